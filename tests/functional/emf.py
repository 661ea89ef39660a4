"""Reading the CloudWatch metrics (EMF documents) the functions print to stdout."""

from __future__ import annotations

import json
from typing import Any


def emf(out: str) -> list[dict[str, Any]]:
    """The EMF documents (CloudWatch metrics) the functions printed."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def values(documents: list[dict[str, Any]], name: str) -> list[float]:
    """Every value of metric ``name`` in ``documents`` (a document may carry a list)."""
    found: list[float] = []
    for document in documents:
        value = document.get(name)
        if value is not None:
            found += value if isinstance(value, list) else [value]
    return found
