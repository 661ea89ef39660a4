"""Construct ids derived from spec names, so logical ids stay stable as specs are added."""

from __future__ import annotations


def pascal(name: str) -> str:
    """``payment_poll`` -> ``PaymentPoll`` (construct ids; CloudFormation wants alphanumerics)."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)
