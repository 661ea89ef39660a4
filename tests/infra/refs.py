"""How a synthesized template names things, for assertions."""

from __future__ import annotations

from typing import Any


def alias_function_name(alias_id: str) -> dict[str, Any]:
    """An event source mapping's ``FunctionName`` for an alias: CDK writes ``<function>:live``
    (the function's name cut from the alias ARN, then the alias name)."""
    return {"Fn::Join": ["", [{"Fn::Select": [6, {"Fn::Split": [":", {"Ref": alias_id}]}]}, ":live"]]}
