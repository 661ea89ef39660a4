"""Lambda functions follow ``FUNCTIONS``: runtime, layer, environment, SnapStart, concurrency."""

from __future__ import annotations

from typing import Any

import pytest

from genbot.resources import BUCKETS, FUNCTIONS, QUEUES, FunctionSpec
from genbot.store.tables import table_specs
from tests.infra.cfn import Synth

SPECS = list(FUNCTIONS.values())
TABLE_ENV = {t.name: t.env_var for t in table_specs()}


def _fn(s: Synth, name: str) -> dict[str, Any]:
    return s.resources[s.logical_id(s.stack.functions.functions[name].function)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_runs_python_313_on_arm64_with_the_shared_layer(
    app_synth: Synth, spec: FunctionSpec
) -> None:
    props = _fn(app_synth, spec.name)["Properties"]
    layer_id = app_synth.logical_id(app_synth.stack.layer.layer)

    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.handler"
    assert props["Layers"] == [{"Ref": layer_id}]
    assert props["Timeout"] == spec.timeout_seconds
    assert props["MemorySize"] == spec.memory_mb
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props.get("ReservedConcurrentExecutions") == spec.reserved_concurrency


def test_layer_is_for_python_313_arm64(app_synth: Synth) -> None:
    (layer,) = app_synth.of_type("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_environment_names_exactly_its_resources(app_synth: Synth, spec: FunctionSpec) -> None:
    # given what the spec says the function touches
    s = app_synth
    stack = s.stack
    env = _fn(s, spec.name)["Properties"]["Environment"]["Variables"]
    expected: dict[str, Any] = {
        "POWERTOOLS_SERVICE_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": "genbot",
        "LOG_LEVEL": "INFO",
    }
    for table in spec.tables:
        expected[TABLE_ENV[table]] = {"Ref": s.logical_id(stack.tables.tables[table])}
    for queue in spec.sends_to:
        expected[QUEUES[queue].env_var] = {"Ref": s.logical_id(stack.queues.queues[queue].queue)}
    for bucket in spec.buckets:
        expected[BUCKETS[bucket].env_var] = {"Ref": s.logical_id(stack.media.buckets[bucket])}
    for q in QUEUES.values():
        if q.dlq_consumer == spec.name and q.dlq_arn_env_var:
            expected[q.dlq_arn_env_var] = {
                "Fn::GetAtt": [s.logical_id(stack.queues.queues[q.name].dlq), "Arn"]
            }
    if spec.secrets:
        expected["SECRET_ID"] = {"Ref": s.logical_id(stack.secret.secret)}

    # then the environment is exactly that: table names, queue URLs, bucket names, DLQ ARN, secret ARN
    assert env == expected


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_logs_to_its_own_log_group_with_retention(app_synth: Synth, spec: FunctionSpec) -> None:
    fn = app_synth.stack.functions.functions[spec.name]
    group_id = app_synth.logical_id(fn.log_group)

    assert _fn(app_synth, spec.name)["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": group_id}
    assert app_synth.resources[group_id]["Properties"]["RetentionInDays"] == 30


def test_snapstart_functions_are_published_behind_the_live_alias(app_synth: Synth) -> None:
    # given the specs mark the webhook for SnapStart (aiogram's import is slow)
    assert FUNCTIONS["webhook"].snapstart
    s = app_synth
    for spec in SPECS:
        fn = s.stack.functions.functions[spec.name]
        props = _fn(s, spec.name)["Properties"]
        if not spec.snapstart:
            assert "SnapStart" not in props
            assert fn.alias is None
            continue
        # then SnapStart applies to published versions, and an alias `live` points at one
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        function_id = s.logical_id(fn.function)
        versions = {
            k: v
            for k, v in s.of_type("AWS::Lambda::Version").items()
            if v["Properties"]["FunctionName"] == {"Ref": function_id}
        }
        assert len(versions) == 1
        (version_id,) = versions
        assert versions[version_id]["DeletionPolicy"] == "Delete"  # old snapshots are billed; drop them
        alias = s.resources[s.logical_id(fn.alias)]["Properties"]
        assert alias["Name"] == "live"
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_set_webhook_function_is_stdlib_only_without_the_layer(app_synth: Synth) -> None:
    props = app_synth.resources[app_synth.logical_id(app_synth.stack.webhook.function)]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert "Layers" not in props
    assert set(props["Environment"]["Variables"]) == {"SECRET_ID"}


def test_optional_settings_reach_every_function(variant_synth: Synth) -> None:
    # given -c telegramApiUrl=... and -c functionEnv='{"ADMIN_IDS": "1,2"}'
    for spec in SPECS:
        env = _fn(variant_synth, spec.name)["Properties"]["Environment"]["Variables"]
        # then every function sees them
        assert env["TELEGRAM_API_URL"] == "https://botapi.example.com"
        assert env["ADMIN_IDS"] == "1,2"
    webhook_fn = variant_synth.resources[variant_synth.logical_id(variant_synth.stack.webhook.function)]
    assert (
        webhook_fn["Properties"]["Environment"]["Variables"]["TELEGRAM_API_URL"]
        == "https://botapi.example.com"
    )
