"""Lambda functions follow ``FUNCTIONS``: runtime, layer, environment, SnapStart, concurrency."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from genbot.resources import BUCKETS, FUNCTIONS, QUEUES, FunctionSpec
from genbot.store.tables import table_specs
from infra.stack import GenbotStack

FUNCTION = "AWS::Lambda::Function"
SPECS = list(FUNCTIONS.values())
TABLE_ENV = {t.name: t.env_var for t in table_specs()}

LogicalId = Callable[..., str]


def _function_id(stack: GenbotStack, logical_id: LogicalId, name: str) -> str:
    return logical_id(stack.functions.functions[name].function)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_runs_python_313_on_arm64_with_the_shared_layer(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    matching = template.find_resources(
        FUNCTION,
        {
            "Properties": {
                "Runtime": "python3.13",
                "Architectures": ["arm64"],
                "Handler": "handler.handler",
                "Layers": Match.exact([{"Ref": logical_id(app_stack.layer.layer)}]),
                "Timeout": spec.timeout_seconds,
                "MemorySize": spec.memory_mb,
                "TracingConfig": Match.object_equals({"Mode": "Active"}),
                "ReservedConcurrentExecutions": (
                    spec.reserved_concurrency if spec.reserved_concurrency else Match.absent()
                ),
            }
        },
    )
    assert _function_id(app_stack, logical_id, spec.name) in matching


def test_layer_is_for_python_313_arm64(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    shared = logical_id(app_stack.layer.layer)
    assert layers[shared]["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layers[shared]["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # the only other layer is the AWS CLI the site's BucketDeployment runs (aws s3 sync)
    others = {k: v["Properties"]["Description"] for k, v in layers.items() if k != shared}
    assert list(others.values()) == ["/opt/awscli/aws"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_environment_names_exactly_its_resources(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    # given what the spec says the function touches
    stack = app_stack
    expected: dict[str, Any] = {
        "POWERTOOLS_SERVICE_NAME": spec.name,
        "POWERTOOLS_METRICS_NAMESPACE": "genbot",
        "LOG_LEVEL": "INFO",
        "GENBOT_RELEASE": app_stack.settings.release,  # this checkout's commit: what is deployed
    }
    assert app_stack.settings.release not in ("", "unknown")
    for table in spec.tables:
        expected[TABLE_ENV[table]] = {"Ref": logical_id(stack.tables.tables[table])}
    for queue in spec.sends_to:
        expected[QUEUES[queue].env_var] = {"Ref": logical_id(stack.queues.queues[queue].queue)}
    for bucket in spec.buckets:
        expected[BUCKETS[bucket].env_var] = {"Ref": logical_id(stack.media.buckets[bucket])}
    for q in QUEUES.values():
        if q.dlq_consumer == spec.name and q.dlq_arn_env_var:
            expected[q.dlq_arn_env_var] = {"Fn::GetAtt": [logical_id(stack.queues.queues[q.name].dlq), "Arn"]}
    if spec.secrets:
        expected["SECRET_ID"] = {"Ref": logical_id(stack.secret.secret)}
    if spec.name == "cabinet_api":  # CORS for the cabinet's site only
        domain = {"Fn::GetAtt": [logical_id(stack.site.distribution), "DomainName"]}
        expected["CABINET_ORIGIN"] = {"Fn::Join": ["", ["https://", domain]]}
    if spec.name == "webhook":  # the bot's buttons into the cabinet (the site's https:// address)
        domain = {"Fn::GetAtt": [logical_id(stack.site.distribution), "DomainName"]}
        expected["CABINET_URL"] = {"Fn::Join": ["", ["https://", domain, "/"]]}

    # then the environment is exactly that: table names, queue URLs, bucket names, DLQ ARN, secret ARN
    # (and the cabinet's origin for its API, its URL for the bot)
    matching = template.find_resources(
        FUNCTION, {"Properties": {"Environment": {"Variables": Match.object_equals(expected)}}}
    )
    assert _function_id(stack, logical_id, spec.name) in matching


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_function_logs_to_its_own_log_group_with_retention(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId, spec: FunctionSpec
) -> None:
    group_id = logical_id(app_stack.functions.functions[spec.name].log_group)

    logging_to_it = template.find_resources(
        FUNCTION, {"Properties": {"LoggingConfig": {"LogGroup": {"Ref": group_id}}}}
    )
    assert set(logging_to_it) == {_function_id(app_stack, logical_id, spec.name)}  # its own: no other's
    assert group_id in template.find_resources("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 30}})


def test_every_function_is_published_behind_the_live_alias_and_keeps_its_versions(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    # given the specs mark the webhook for SnapStart (aiogram's import is slow)
    assert FUNCTIONS["webhook"].snapstart
    for spec in SPECS:
        fn = app_stack.functions.functions[spec.name]
        function_id = logical_id(fn.function)
        own_versions = {"FunctionName": {"Ref": function_id}}
        # SnapStart applies to published versions of the functions that ask for it...
        snapstart = (
            Match.object_equals({"ApplyOn": "PublishedVersions"}) if spec.snapstart else Match.absent()
        )
        assert function_id in template.find_resources(FUNCTION, {"Properties": {"SnapStart": snapstart}})
        # ...every function has one version in the template, retained on update: the previous
        # release's version stays for `genbot release rollback` (and `prune` deletes old ones)...
        template.resource_properties_count_is("AWS::Lambda::Version", own_versions, 1)
        versions = template.find_resources(
            "AWS::Lambda::Version",
            {"Properties": own_versions, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
        )
        assert len(versions) == 1, f"{spec.name}: its version is not retained on update"
        (version_id,) = versions
        # ...the alias `live` points at it, and the function carries its spec's name as a tag
        template.resource_properties_count_is("AWS::Lambda::Alias", own_versions, 1)
        aliases = template.find_resources(
            "AWS::Lambda::Alias",
            {
                "Properties": {
                    **own_versions,
                    "Name": "live",
                    "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
                }
            },
        )
        assert set(aliases) == {logical_id(fn.alias)}
        tags = template.to_json()["Resources"][function_id]["Properties"]["Tags"]
        assert {"Key": "genbot:function", "Value": spec.name} in tags


def test_set_webhook_function_is_stdlib_only_without_the_layer(
    template: Template, app_stack: GenbotStack, logical_id: LogicalId
) -> None:
    matching = template.find_resources(
        FUNCTION,
        {
            "Properties": {
                "Runtime": "python3.13",
                "Architectures": ["arm64"],
                "Layers": Match.absent(),
                "Environment": {"Variables": Match.object_equals({"SECRET_ID": Match.any_value()})},
            }
        },
    )
    assert logical_id(app_stack.webhook.function) in matching


def test_optional_settings_reach_every_function(
    variant_template: Template,
    variant_stack: GenbotStack,
    variant_context: dict[str, str],
    logical_id: LogicalId,
) -> None:
    # given -c telegramApiUrl=... and -c functionEnv='{"ADMIN_IDS": "1,2", "TIMEZONE": ...}'
    api_url = variant_context["telegramApiUrl"]
    extra_env = json.loads(variant_context["functionEnv"])
    assert extra_env

    # then every function sees them, and the webhook registration sees the Bot API URL
    with_both = variant_template.find_resources(
        FUNCTION, {"Properties": {"Environment": {"Variables": {"TELEGRAM_API_URL": api_url, **extra_env}}}}
    )
    assert set(with_both) >= {_function_id(variant_stack, logical_id, spec.name) for spec in SPECS}
    with_url = variant_template.find_resources(
        FUNCTION, {"Properties": {"Environment": {"Variables": {"TELEGRAM_API_URL": api_url}}}}
    )
    assert logical_id(variant_stack.webhook.function) in with_url
