"""Least privilege: each function's role reaches only what its spec names.

``_grants`` reads a role's inline policies (found with ``Template.find_resources``) into
"resource -> allowed actions", where a resource is ``"*"`` or a logical id with the suffix CDK
adds for sub-resources (``"/index/*"`` for table indexes, ``"/*"`` for bucket objects). A
resource written any other way fails the test rather than being skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import FUNCTIONS, QUEUES, FunctionSpec
from infra.functions import ITEM_ACTIONS, READ_ACTIONS
from infra.stack import GenbotStack

SPECS = list(FUNCTIONS.values())
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
LAMBDA_TRUST = [
    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
]

LogicalId = Callable[..., str]
Grants = dict[tuple[str, str], set[str]]  # (logical id or "*", suffix) -> actions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource(value: Any) -> tuple[str, str]:
    """(logical id, suffix) of a statement's resource, in the forms CDK writes them."""
    match value:
        case "*":
            return ("*", "")
        case {"Ref": str(logical_id)} | {"Fn::GetAtt": [str(logical_id), "Arn"]}:
            return (logical_id, "")
        case {"Fn::Join": ["", [{"Fn::GetAtt": [str(logical_id), "Arn"]}, str(suffix)]]}:
            return (logical_id, suffix)
    raise AssertionError(f"a policy names a resource in an unexpected form: {value}")


def _statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}}
    )
    return [st for policy in policies.values() for st in policy["Properties"]["PolicyDocument"]["Statement"]]


def _grants(template: Template, role_id: str) -> Grants:
    """What the role's inline policies allow unconditionally, by resource; every statement must be
    an Allow, and the only conditional ones are writes limited by leading keys (``_keyed_writes``)."""
    grants: Grants = defaultdict(set)
    for statement in _statements(template, role_id):
        assert statement["Effect"] == "Allow", statement
        if "Condition" in statement:
            assert set(statement["Condition"]) == {"ForAllValues:StringLike"}, statement
            assert set(statement["Condition"]["ForAllValues:StringLike"]) == {"dynamodb:LeadingKeys"}, (
                statement
            )
            continue
        assert set(statement) == {"Action", "Effect", "Resource"}, statement  # no NotAction etc.
        for resource in _as_list(statement["Resource"]):
            grants[_resource(resource)] |= set(_as_list(statement["Action"]))
    return dict(grants)


def _keyed_writes(template: Template, role_id: str) -> dict[str, tuple[set[str], list[str]]]:
    """Writes limited to items by partition-key prefix: table logical id -> (actions, key patterns)."""
    found: dict[str, tuple[set[str], list[str]]] = {}
    for statement in _statements(template, role_id):
        if "Condition" in statement:
            (table_id, suffix) = _resource(statement["Resource"])
            assert suffix == "", statement
            keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            found[table_id] = (set(_as_list(statement["Action"])), _as_list(keys))
    return found


def _ids(grants: Grants) -> set[str]:
    return {logical_id for logical_id, _ in grants if logical_id != "*"}


def _role_id(stack: GenbotStack, logical_id: LogicalId, name: str) -> str:
    return logical_id(stack.functions.functions[name].role)


def _allowed_ids(stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec) -> set[str]:
    """Logical ids the spec lets the function reach."""
    fn = stack.functions.functions[spec.name]
    ids = {logical_id(fn.log_group)}
    ids |= {logical_id(stack.tables.tables[t]) for t in spec.tables}
    ids |= {logical_id(stack.queues.queues[q].queue) for q in spec.sends_to}
    for q in QUEUES.values():
        if q.consumer == spec.name:
            ids.add(logical_id(stack.queues.queues[q.name].queue))
        if q.dlq_consumer == spec.name:
            ids.add(logical_id(stack.queues.queues[q.name].dlq))
    ids |= {logical_id(stack.media.buckets[b]) for b in spec.buckets}
    if spec.secrets:
        ids.add(logical_id(stack.secret.secret))
    return ids


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_function_policy_references_only_its_own_resources(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    # given the function's role policy
    grants = _grants(template, _role_id(app_stack, logical_id, spec.name))
    assert grants, "the function has no policy at all"

    # then every resource it names is one the spec gives it, and every such resource is named
    referenced = _ids(grants)
    allowed = _allowed_ids(app_stack, logical_id, spec)
    assert referenced <= allowed, f"{spec.name} reaches beyond its spec: {sorted(referenced - allowed)}"
    assert referenced == allowed, f"{spec.name} lacks access to {sorted(allowed - referenced)}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_only_xray_uses_a_wildcard_resource(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    grants = _grants(template, _role_id(app_stack, logical_id, spec.name))
    # X-Ray has no resource-level permissions; the functions trace (Tracing.ACTIVE)
    assert grants.get(("*", "")) == XRAY_ACTIONS


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_read_only_tables_get_no_write_actions(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    grants = _grants(template, _role_id(app_stack, logical_id, spec.name))
    for table, access in spec.tables.items():
        table_id = logical_id(app_stack.tables.tables[table])
        actions = set().union(*(a for (i, _), a in grants.items() if i == table_id))
        assert "dynamodb:GetItem" in actions, f"{spec.name} cannot read {table}"
        if access == "read":  # get, batch get and query; no write, and no scan either
            assert not actions & TABLE_WRITES, f"{spec.name} may write the read-only table {table}"
            assert actions == set(READ_ACTIONS), f"{spec.name} on {table}: {sorted(actions)}"
            assert "dynamodb:Scan" not in actions
        elif access == "items":  # put and update items; never scan, delete or batch-write
            assert actions == set(ITEM_ACTIONS), f"{spec.name} on {table}: {sorted(actions)}"
        elif access == "items_scan":  # the same and scan; still never delete or batch-write
            assert actions == {*ITEM_ACTIONS, "dynamodb:Scan"}, f"{spec.name} on {table}: {sorted(actions)}"
        else:  # and the converse, so this test can tell them apart
            assert access == "read_write", f"{spec.name} on {table}: unknown access {access!r}"
            assert actions >= TABLE_WRITES, f"{spec.name} may not write {table}"


def test_the_specs_have_read_only_and_writable_tables() -> None:
    # guard: without these, the test above would check less than it says
    accesses = {access for spec in SPECS for access in spec.tables.values()}
    assert {"read", "items", "items_scan"} <= accesses


def test_the_webhook_can_only_add_to_the_ledger(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    grants = _grants(template, _role_id(app_stack, logical_id, "webhook"))
    ledger = logical_id(app_stack.tables.tables["ledger"])
    actions = set().union(*(a for (i, _), a in grants.items() if i == ledger))
    assert not actions & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= actions


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_keyed_writes_reach_only_the_items_the_spec_names(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    keyed = _keyed_writes(template, _role_id(app_stack, logical_id, spec.name))
    expected = {
        logical_id(app_stack.tables.tables[t]): (
            {"dynamodb:PutItem", "dynamodb:UpdateItem"},
            [f"{p}*" for p in prefixes],
        )
        for t, prefixes in spec.write_prefixes.items()
    }
    assert keyed == expected


def test_the_worker_writes_key_pool_counters_but_not_the_operators_prices_or_catalog(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    role = _role_id(app_stack, logical_id, "generate")
    settings = logical_id(app_stack.tables.tables["settings"])
    unconditional = set().union(*(a for (i, _), a in _grants(template, role).items() if i == settings))
    assert not unconditional & TABLE_WRITES
    actions, keys = _keyed_writes(template, role)[settings]
    assert keys == ["keypool#*"] and actions <= TABLE_WRITES


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_secret_access_is_get_secret_value_on_the_app_secret_only(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    role_id = _role_id(app_stack, logical_id, spec.name)
    secret_id = logical_id(app_stack.secret.secret)
    grants = _grants(template, role_id)
    secrets_actions = {
        resource: {a for a in actions if a.startswith("secretsmanager:")}
        for resource, actions in grants.items()
    }
    if not spec.secrets:
        assert not any(secrets_actions.values())
        assert secret_id not in _ids(grants)
        return

    # a statement of its own, for exactly this (grant_read would add DescribeSecret)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_equals(
                            {
                                "Action": "secretsmanager:GetSecretValue",
                                "Effect": "Allow",
                                "Resource": {"Ref": secret_id},
                            }
                        )
                    ]
                )
            },
        },
    )
    # and no other Secrets Manager action anywhere, nor any other action on the secret
    assert {r: a for r, a in secrets_actions.items() if a} == {
        (secret_id, ""): {"secretsmanager:GetSecretValue"}
    }
    assert {r: a for r, a in grants.items() if r[0] == secret_id} == {
        (secret_id, ""): {"secretsmanager:GetSecretValue"}
    }


def test_webhook_cannot_touch_the_media_bucket_and_generate_not_the_idempotency_table(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    webhook = _ids(_grants(template, _role_id(app_stack, logical_id, "webhook")))
    generate = _ids(_grants(template, _role_id(app_stack, logical_id, "generate")))

    assert logical_id(app_stack.media.buckets["media"]) not in webhook
    assert logical_id(app_stack.tables.tables["idempotency"]) not in generate
    assert logical_id(app_stack.tables.tables["idempotency"]) in webhook


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_function_role_is_for_lambda_only_without_managed_policies(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    roles = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {"Statement": Match.exact(LAMBDA_TRUST)},
                "ManagedPolicyArns": Match.absent(),
                "Policies": Match.absent(),
            }
        },
    )
    assert _role_id(app_stack, logical_id, spec.name) in roles


def test_set_webhook_function_reads_the_secret_and_writes_its_logs_only(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    function_id = logical_id(app_stack.webhook.function)
    function = template.find_resources("AWS::Lambda::Function")[function_id]["Properties"]
    role_id = function["Role"]["Fn::GetAtt"][0]
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]

    assert role_id in template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {"Statement": Match.exact(LAMBDA_TRUST)},
                "ManagedPolicyArns": Match.absent(),
            }
        },
    )
    assert _grants(template, role_id) == {
        (logical_id(app_stack.secret.secret), ""): {"secretsmanager:GetSecretValue"},
        (log_group_id, ""): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
