"""The shared Lambda layer: the genbot package and its runtime dependencies (see bundling.py)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.bundling import build_layer

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


class SharedLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, root: Path, with_deps: bool) -> None:
        super().__init__(scope, construct_id)
        self.build = build_layer(root, with_deps=with_deps)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            # The build's own content hash: CDK need not fingerprint ~110 MB on every synth.
            code=lambda_.Code.from_asset(
                str(self.build.path), asset_hash=self.build.asset_hash, asset_hash_type=AssetHashType.CUSTOM
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=(
                f"genbot shared package {'with' if with_deps else 'WITHOUT'} runtime dependencies "
                f"({self.build.asset_hash[:12]})"
            ),
        )
