"""CDK entry point: ``cdk.json`` runs this; ``CDK_OUTDIR=cdk.out python infra/app.py`` synthesizes
without the CDK CLI.

Run as a script, so it puts the repository root (for ``infra``) and the layer's ``python/`` (for
``genbot``, the specs' single source of truth) on ``sys.path`` itself. The CLI passes cdk.json's
context in; a direct run reads it here so both synthesize the same template (feature flags!).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "layers" / "shared" / "python", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import aws_cdk as cdk  # noqa: E402

from infra.settings import flag  # noqa: E402
from infra.stack import GenbotStack  # noqa: E402


def cdk_json_context(root: Path = ROOT) -> dict[str, Any]:
    """cdk.json's ``context`` (the CLI's own ``-c`` values still win: it passes them via env)."""
    return dict(json.loads((root / "cdk.json").read_text()).get("context", {}))


def build_app(context: dict[str, Any] | None = None) -> cdk.App:
    app = cdk.App(context={**cdk_json_context(), **(context or {})})
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT") or os.environ.get("CDK_DEFAULT_REGION"):
        env = cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        )
    GenbotStack(app, "GenbotStack", env=env)
    nag = app.node.try_get_context("nag")
    if nag is None or flag(nag, "nag"):
        # cdk-nag's AwsSolutions pack as a policy validation plugin: synth fails on a finding that
        # infra/nag.py does not acknowledge (tests/infra/test_nag.py checks the same)
        from aws_cdk import Validations
        from cdk_nag import AwsSolutionsChecks

        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
