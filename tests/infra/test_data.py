"""DynamoDB tables follow ``table_specs()`` exactly."""

from __future__ import annotations

from typing import Any

import pytest

from genbot.store.tables import IndexSpec, TableSpec, table_specs
from tests.infra.cfn import Synth

SPECS = table_specs()


def _schema(pk: Any, sk: Any) -> list[dict[str, str]]:
    out = [{"AttributeName": pk.name, "KeyType": "HASH"}]
    if sk:
        out.append({"AttributeName": sk.name, "KeyType": "RANGE"})
    return out


def _table(s: Synth, spec: TableSpec) -> dict[str, Any]:
    return s.resources[s.logical_id(s.stack.tables.tables[spec.name])]


def test_there_is_one_table_per_spec(app_synth: Synth) -> None:
    # given the table specs / when synthesized / then exactly that many tables exist
    assert len(app_synth.of_type("AWS::DynamoDB::Table")) == len(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_table_keys_and_indexes_match_the_model(app_synth: Synth, spec: TableSpec) -> None:
    # given a table spec derived from its PynamoDB model
    props = _table(app_synth, spec)["Properties"]

    # then the key schema, attribute types and every index are the model's
    assert props["KeySchema"] == _schema(spec.partition_key, spec.sort_key)
    expected_attrs = spec.create_table_kwargs("x")["AttributeDefinitions"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        expected_attrs, key=lambda a: a["AttributeName"]
    )

    for kind, local in (("GlobalSecondaryIndexes", False), ("LocalSecondaryIndexes", True)):
        declared: list[IndexSpec] = [i for i in spec.indexes if i.local is local]
        found = {i["IndexName"]: i for i in props.get(kind, [])}
        assert set(found) == {i.name for i in declared}
        for index in declared:
            assert found[index.name]["KeySchema"] == _schema(index.partition_key, index.sort_key)
            assert found[index.name]["Projection"] == {"ProjectionType": "ALL"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_table_is_on_demand_recoverable_encrypted_retained_and_unnamed(
    app_synth: Synth, spec: TableSpec
) -> None:
    resource = _table(app_synth, spec)
    props = resource["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert "KMSMasterKeyId" not in props["SSESpecification"]  # the AWS-managed key
    assert resource["DeletionPolicy"] == "Retain"
    assert "TableName" not in props  # CDK names it; functions get it from the environment


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_ttl_is_enabled_exactly_where_the_model_has_a_ttl_attribute(
    app_synth: Synth, spec: TableSpec
) -> None:
    props = _table(app_synth, spec)["Properties"]

    if spec.ttl_attribute:
        assert props["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
    else:
        assert "TimeToLiveSpecification" not in props


def test_the_specs_exercise_ttl_gsis_and_lsis() -> None:
    # guard: if the models lose these, the parametrized checks above would silently check less
    assert any(s.ttl_attribute for s in SPECS)
    assert any(i.local for s in SPECS for i in s.indexes)
    assert any(not i.local for s in SPECS for i in s.indexes)
