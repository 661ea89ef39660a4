"""The app as a whole: spec validation, clear failures, context parsing, the cdk.json entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from genbot.resources import FunctionSpec
from genbot.store.tables import table_specs
from infra.functions import MissingHandlerError
from infra.settings import DeploySettings, SettingsError
from infra.specs import AppSpecs, SpecError
from infra.stack import GenbotStack


def test_specs_referring_to_a_missing_table_fail_with_the_names() -> None:
    base = AppSpecs.load()
    broken = FunctionSpec(name="orphan", timeout_seconds=10, tables={"nope": "read"}, sends_to=("ghost",))
    specs = replace(base, functions={**base.functions, "orphan": broken})

    with pytest.raises(SpecError) as exc:
        specs.validate()

    assert "function orphan: unknown table 'nope'" in str(exc.value)
    assert "function orphan: unknown queue 'ghost'" in str(exc.value)


def test_the_shipped_specs_are_valid() -> None:
    AppSpecs.load().validate()


def test_a_function_without_handler_py_fails_the_synth_clearly(tmp_path: Path, repo_root: Path) -> None:
    # given a checkout where functions/<name>/handler.py is missing
    (tmp_path / "layers").symlink_to(repo_root / "layers")
    (tmp_path / "uv.lock").symlink_to(repo_root / "uv.lock")
    (tmp_path / "functions" / "webhook").mkdir(parents=True)

    # when the stack is built / then the error names the function and the file
    with pytest.raises(MissingHandlerError, match=r"function 'webhook'.*functions/webhook/handler\.py"):
        GenbotStack(cdk.App(context={"bundle": "false"}), "Broken", root=tmp_path)


def test_context_values_from_the_command_line_are_parsed() -> None:
    app = cdk.App(
        context={
            "bundle": "false",
            "logRetentionDays": "90",
            "apiRateLimit": "10",
            "cabinetBurstLimit": "15",
            "functionEnv": '{"A_B": "1"}',
        }
    )
    settings = DeploySettings.from_context(app.node)
    assert settings.bundle_deps is False
    assert settings.log_retention_days == 90
    assert settings.api_rate_limit == 10
    assert (settings.cabinet_rate_limit, settings.cabinet_burst_limit) == (20, 15)
    assert settings.function_env == {"A_B": "1"}


def test_skip_deps_env_var_overrides_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENBOT_SKIP_LAYER_DEPS", "1")
    assert DeploySettings.from_context(cdk.App(context={"bundle": "true"}).node).bundle_deps is False


def test_a_malformed_context_value_names_its_key() -> None:
    with pytest.raises(SettingsError, match="bundle"):
        DeploySettings.from_context(cdk.App(context={"bundle": "maybe"}).node)


def test_cdk_json_runs_the_app_with_the_venv_python(repo_root: Path) -> None:
    config = json.loads((repo_root / "cdk.json").read_text())
    assert config["app"] == ".venv/bin/python infra/app.py"
    assert (
        config["context"]["@aws-cdk/aws-lambda:recognizeLayerVersion"] is True
    )  # layer change -> new version


@pytest.mark.infra
def test_app_py_synthesizes_without_the_cdk_cli(tmp_path: Path, repo_root: Path) -> None:
    # given CDK_OUTDIR, as the brief for deploy tooling requires / when the app runs as a script
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path), "GENBOT_SKIP_LAYER_DEPS": "1"}
    result = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=repo_root, env=env, capture_output=True, text=True, timeout=300
    )

    # then a cloud assembly with the stack's template is written
    assert result.returncode == 0, result.stderr
    template = Template.from_json(json.loads((tmp_path / "GenbotStack.template.json").read_text()))
    template.resource_count_is("Custom::TelegramWebhook", 1)
    # the shared layer (the site's BucketDeployment adds the AWS CLI's, for no runtime)
    template.resource_properties_count_is(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.13"]}, 1
    )
    assert template.find_resources("Custom::CDKBucketDeployment")  # site/ and its config.json
    template.resource_count_is("AWS::DynamoDB::Table", len(table_specs()))
    assert (tmp_path / "manifest.json").is_file()
