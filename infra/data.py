"""DynamoDB tables, one per ``TableSpec``: keys and indexes exactly as the PynamoDB models say.

Names are left to CDK (never hard-coded) so two stacks can live in one account; functions learn
them from ``<spec.env_var>``. Tables hold money and users, so they are retained on stack
deletion and have point-in-time recovery.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from genbot.store.tables import KeySpec, TableSpec
from infra.naming import pascal

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key: KeySpec) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_TYPES[key.type])


class Tables(Construct):
    """All tables; ``tables[name]`` is the table for ``TableSpec.name``."""

    def __init__(self, scope: Construct, construct_id: str, *, specs: Sequence[TableSpec]) -> None:
        super().__init__(scope, construct_id)
        self.specs = {spec.name: spec for spec in specs}
        self.tables: dict[str, dynamodb.Table] = {spec.name: self._table(spec) for spec in specs}

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            pascal(spec.name),
            partition_key=_attribute(spec.partition_key),
            sort_key=_attribute(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in spec.indexes:
            if index.local:
                assert index.sort_key is not None  # AppSpecs.validate() says so
                table.add_local_secondary_index(
                    index_name=index.name,
                    sort_key=_attribute(index.sort_key),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
            else:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key) if index.sort_key else None,
                    projection_type=dynamodb.ProjectionType.ALL,
                )
        return table
