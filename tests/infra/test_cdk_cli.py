"""The pinned CDK CLI (package.json) reads this app's cloud assembly, and diffs it offline.

The npm aws-cdk 3.x CLI fails on aws-cdk-lib 2.x assemblies; this proves the pinned 2.x one
synthesizes the stack offline, as `cdk deploy` will.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

pytestmark = pytest.mark.infra


def test_the_pinned_cli_synthesizes_and_diffs_the_stack(tmp_path: Path, repo_root: Path) -> None:
    cli = repo_root / "node_modules/.bin/cdk"
    if not cli.exists():
        if os.environ.get("CI"):
            pytest.fail("node_modules/.bin/cdk is missing: scripts/setup installs it with npm ci")
        pytest.skip("run scripts/setup (npm ci) to install the pinned CDK CLI")
    env = {
        **os.environ,
        "GENBOT_SKIP_LAYER_DEPS": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
        # diff reads no account with --template; the SDK still wants credentials to exist
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_REGION": "eu-central-1",
    }

    def cdk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cli), *args, "--no-notices"],
            cwd=repo_root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    done = cdk("synth", "--quiet", "-o", str(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    version = json.loads((repo_root / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert version.startswith("2.")
    template = Template.from_json(json.loads((tmp_path / "GenbotStack.template.json").read_text()))
    for kind in (
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::SQS::Queue",
        "AWS::ApiGatewayV2::Api",
    ):
        assert template.find_resources(kind), f"no {kind} in the template the CLI synthesized"

    # `cdk diff` against the deployed template (here: this one without its dashboard, as an
    # older deploy would be) says what a deploy would change, offline: the README's deploy step
    previous = json.loads((tmp_path / "GenbotStack.template.json").read_text())
    dashboards = [k for k, v in previous["Resources"].items() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    assert dashboards
    for key in dashboards:
        del previous["Resources"][key]
    deployed = tmp_path / "deployed.json"
    deployed.write_text(json.dumps(previous))
    diffed = cdk("diff", "--app", str(tmp_path), "--template", str(deployed), "--fail")
    assert diffed.returncode == 1, diffed.stderr[-2000:]  # --fail: differences found
    assert "[+] AWS::CloudWatch::Dashboard" in diffed.stdout + diffed.stderr
    same = cdk(
        "diff", "--app", str(tmp_path), "--template", str(tmp_path / "GenbotStack.template.json"), "--fail"
    )
    assert same.returncode == 0, (same.stdout + same.stderr)[-2000:]
