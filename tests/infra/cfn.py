"""Helpers to synthesize the app and read its template (shared by the infra tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE_FUNCTION = "generate"  # any existing function; the variant synth adds a schedule for it


@dataclass(frozen=True)
class Synth:
    """A synthesized stack: the construct tree (for logical ids) and its template."""

    stack: Any  # infra.stack.GenbotStack
    template: Any  # aws_cdk.assertions.Template

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.to_json()["Resources"]

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's main resource (or of an L1 itself)."""
        from aws_cdk import CfnElement

        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        return str(self.stack.resolve(element.logical_id))

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}


def synth(context: dict[str, Any] | None = None, specs: Any = None, outdir: Path | None = None) -> Synth:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from infra.app import cdk_json_context
    from infra.stack import GenbotStack

    app = cdk.App(
        context={**cdk_json_context(), "bundle": "false", **(context or {})},
        outdir=str(outdir) if outdir else None,
    )
    stack = GenbotStack(app, "GenbotStack", specs=specs)
    return Synth(stack, Template.from_stack(stack))


def refs(value: Any) -> set[str]:
    """Every logical id a CloudFormation value refers to (Ref / Fn::GetAtt), at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(s: Synth, role_id: str) -> list[dict[str, Any]]:
    """All statements of the inline policies attached to a role."""
    statements: list[dict[str, Any]] = []
    for policy in s.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements
