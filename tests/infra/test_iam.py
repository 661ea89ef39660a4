"""Least privilege: each function's role reaches only what its spec names."""

from __future__ import annotations

from typing import Any

import pytest

from genbot.resources import FUNCTIONS, QUEUES, FunctionSpec
from tests.infra.cfn import Synth, as_list, refs, role_statements

SPECS = list(FUNCTIONS.values())
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _role_id(s: Synth, name: str) -> str:
    return s.logical_id(s.stack.functions.functions[name].role)


def _allowed_ids(s: Synth, spec: FunctionSpec) -> set[str]:
    """Logical ids the spec lets the function reach."""
    stack = s.stack
    fn = stack.functions.functions[spec.name]
    ids = {s.logical_id(fn.log_group)}
    ids |= {s.logical_id(stack.tables.tables[t]) for t in spec.tables}
    ids |= {s.logical_id(stack.queues.queues[q].queue) for q in spec.sends_to}
    for q in QUEUES.values():
        if q.consumer == spec.name:
            ids.add(s.logical_id(stack.queues.queues[q.name].queue))
        if q.dlq_consumer == spec.name:
            ids.add(s.logical_id(stack.queues.queues[q.name].dlq))
    ids |= {s.logical_id(stack.media.buckets[b]) for b in spec.buckets}
    if spec.secrets:
        ids.add(s.logical_id(stack.secret.secret))
    return ids


def _resource_ids(statements: list[dict[str, Any]]) -> set[str]:
    return set().union(*(refs(st["Resource"]) for st in statements)) if statements else set()


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_function_policy_references_only_its_own_resources(app_synth: Synth, spec: FunctionSpec) -> None:
    # given the function's role policy
    statements = role_statements(app_synth, _role_id(app_synth, spec.name))
    assert statements, "the function has no policy at all"

    # then every resource it names is one the spec gives it, and every such resource is named
    referenced = _resource_ids(statements)
    allowed = _allowed_ids(app_synth, spec)
    assert referenced <= allowed, f"{spec.name} reaches beyond its spec: {sorted(referenced - allowed)}"
    assert referenced == allowed, f"{spec.name} lacks access to {sorted(allowed - referenced)}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_only_xray_uses_a_wildcard_resource(app_synth: Synth, spec: FunctionSpec) -> None:
    for st in role_statements(app_synth, _role_id(app_synth, spec.name)):
        assert st["Effect"] == "Allow"
        if "*" in as_list(st["Resource"]):
            assert set(as_list(st["Action"])) <= XRAY_ACTIONS  # X-Ray has no resource-level permissions


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_read_only_tables_get_no_write_actions(app_synth: Synth, spec: FunctionSpec) -> None:
    s = app_synth
    read_only = {s.logical_id(s.stack.tables.tables[t]) for t, a in spec.tables.items() if a == "read"}
    for st in role_statements(s, _role_id(s, spec.name)):
        if refs(st["Resource"]) & read_only:
            actions = set(as_list(st["Action"]))
            assert not actions & {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.name)
def test_secret_access_is_get_secret_value_on_the_app_secret_only(
    app_synth: Synth, spec: FunctionSpec
) -> None:
    s = app_synth
    secret_ref = {"Ref": s.logical_id(s.stack.secret.secret)}
    secret_statements = [
        st
        for st in role_statements(s, _role_id(s, spec.name))
        if any(a.startswith("secretsmanager:") for a in as_list(st["Action"]))
    ]
    assert secret_statements == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": secret_ref}
    ]


def test_webhook_cannot_touch_the_media_bucket_and_generate_not_the_idempotency_table(
    app_synth: Synth,
) -> None:
    s = app_synth
    webhook = _resource_ids(role_statements(s, _role_id(s, "webhook")))
    generate = _resource_ids(role_statements(s, _role_id(s, "generate")))

    assert s.logical_id(s.stack.media.buckets["media"]) not in webhook
    assert s.logical_id(s.stack.tables.tables["idempotency"]) not in generate
    assert s.logical_id(s.stack.tables.tables["idempotency"]) in webhook


def test_function_roles_have_no_managed_policies(app_synth: Synth) -> None:
    for spec in SPECS:
        role = app_synth.resources[_role_id(app_synth, spec.name)]["Properties"]
        assert "ManagedPolicyArns" not in role
        principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"Service": "lambda.amazonaws.com"}


def test_set_webhook_function_reads_the_secret_and_writes_its_logs_only(app_synth: Synth) -> None:
    s = app_synth
    function = s.resources[s.logical_id(s.stack.webhook.function)]["Properties"]
    role_id = function["Role"]["Fn::GetAtt"][0]
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]

    statements = role_statements(s, role_id)

    assert _resource_ids(statements) == {s.logical_id(s.stack.secret.secret), log_group_id}
