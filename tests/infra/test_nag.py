"""cdk-nag's AwsSolutions pack over the synthesized apps: no error and no warning that
``infra/nag.py`` does not acknowledge (with its reason).

cdk-nag 3 is a CDK policy validation plugin (``Validations.of(app).add_plugins(...)``, which
``infra/app.py`` does for ``cdk synth``); here the pack validates the already synthesized test
apps directly (``validate_scope``), which honours the same acknowledgments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Validations

from infra.nag import REASONS
from infra.stack import GenbotStack

REPORTED = ("error", "warning")


def _findings(stack: GenbotStack) -> list[str]:
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(stack.node.root)
    return sorted(
        f"{violation.severity}: {violation.rule_name} at "
        f"{resource.construct_path or resource.resource_logical_id}\n    {violation.description}"
        for violation in report.violations
        if str(violation.severity).lower() in REPORTED
        for resource in violation.violating_resources
    )


@pytest.fixture(scope="module")
def stack_in_an_account(tmp_path_factory: pytest.TempPathFactory, site_dir: Path) -> GenbotStack:
    """The stack with a known account and region (as ``cdk synth`` with credentials builds it):
    some findings then name the account, region and partition instead of references."""
    import aws_cdk as cdk

    from infra.app import cdk_json_context

    app = cdk.App(
        context={**cdk_json_context(), "bundle": "false"}, outdir=str(tmp_path_factory.mktemp("cdk-env"))
    )
    env = cdk.Environment(account="123456789012", region="eu-central-1")
    return GenbotStack(app, "GenbotStack", site_dir=site_dir, env=env)


@pytest.mark.parametrize("which", ["default", "variant", "in-an-account"])
def test_aws_solutions_pack_finds_nothing_unacknowledged(which: str, request: pytest.FixtureRequest) -> None:
    fixture = {"default": "app_stack", "variant": "variant_stack", "in-an-account": "stack_in_an_account"}
    stack: GenbotStack = request.getfixturevalue(fixture[which])

    findings = _findings(stack)

    assert not findings, (
        f"{len(findings)} cdk-nag finding(s): fix them, or acknowledge them in infra/nag.py "
        "with a reason\n" + "\n".join(findings)
    )


def test_the_pack_does_report_what_is_not_acknowledged(tmp_path: Any) -> None:
    # given a stack-like app with a bucket nobody acknowledged (no logs, no TLS policy)
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    s3.Bucket(stack, "Plain")

    report = AwsSolutionsChecks().validate_scope(app)

    # then the test above would fail on it: the pack is really running
    rules = {v.rule_name for v in report.violations}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_every_acknowledgment_says_why(app_stack: GenbotStack) -> None:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = [
        entry.data
        for construct in app_stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
    ]
    assert acknowledged, "infra/nag.py acknowledged nothing"
    assert all(len(reason) > 60 for reason in REASONS.values())
