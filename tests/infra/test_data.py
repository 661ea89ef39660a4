"""DynamoDB tables follow ``table_specs()`` exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.store.tables import KeySpec, TableSpec, table_specs
from infra.stack import GenbotStack

TABLE = "AWS::DynamoDB::Table"
SPECS = table_specs()

LogicalId = Callable[..., str]


def _schema(pk: KeySpec, sk: KeySpec | None) -> list[dict[str, str]]:
    out = [{"AttributeName": pk.name, "KeyType": "HASH"}]
    if sk:
        out.append({"AttributeName": sk.name, "KeyType": "RANGE"})
    return out


def _indexes(spec: TableSpec, *, local: bool) -> Any:
    declared = [i for i in spec.indexes if i.local is local]
    if not declared:
        return Match.absent()
    return Match.exact(
        [
            {
                "IndexName": i.name,
                "KeySchema": _schema(i.partition_key, i.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in declared
        ]
    )


def test_there_is_one_table_per_spec(template: Template) -> None:
    # given the table specs / when synthesized / then exactly that many tables exist
    template.resource_count_is(TABLE, len(SPECS))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_table_keys_and_indexes_match_the_model(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: TableSpec
) -> None:
    # given a table spec derived from its PynamoDB model
    table_id = logical_id(app_stack.tables.tables[spec.name])

    # then the key schema and every index (global and local) are the model's
    matching = template.find_resources(
        TABLE,
        {
            "Properties": {
                "KeySchema": Match.exact(_schema(spec.partition_key, spec.sort_key)),
                "GlobalSecondaryIndexes": _indexes(spec, local=False),
                "LocalSecondaryIndexes": _indexes(spec, local=True),
            }
        },
    )
    assert table_id in matching

    # and the attribute types are the model's (their order means nothing to DynamoDB)
    attributes = template.find_resources(TABLE)[table_id]["Properties"]["AttributeDefinitions"]
    expected = spec.create_table_kwargs("x")["AttributeDefinitions"]
    assert sorted(attributes, key=lambda a: a["AttributeName"]) == sorted(
        expected, key=lambda a: a["AttributeName"]
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_table_is_on_demand_recoverable_encrypted_retained_and_unnamed(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: TableSpec
) -> None:
    matching = template.find_resources(
        TABLE,
        {
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": Match.object_equals({"PointInTimeRecoveryEnabled": True}),
                # the AWS-managed key: no KMSMasterKeyId
                "SSESpecification": Match.object_equals({"SSEEnabled": True}),
                "TableName": Match.absent(),  # CDK names it; functions get it from the environment
            },
            "DeletionPolicy": "Retain",
        },
    )
    assert logical_id(app_stack.tables.tables[spec.name]) in matching


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_ttl_is_enabled_exactly_where_the_model_has_a_ttl_attribute(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: TableSpec
) -> None:
    ttl = (
        Match.object_equals({"AttributeName": spec.ttl_attribute, "Enabled": True})
        if spec.ttl_attribute
        else Match.absent()
    )
    matching = template.find_resources(TABLE, {"Properties": {"TimeToLiveSpecification": ttl}})
    assert logical_id(app_stack.tables.tables[spec.name]) in matching


def test_the_specs_exercise_ttl_gsis_and_lsis() -> None:
    # guard: if the models lose these, the parametrized checks above would silently check less
    assert any(s.ttl_attribute for s in SPECS)
    assert any(i.local for s in SPECS for i in s.indexes)
    assert any(not i.local for s in SPECS for i in s.indexes)
