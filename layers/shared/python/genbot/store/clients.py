"""boto3 clients with timeouts and retries that fit a Lambda's deadline (botocore's defaults,
60 s reads and up to 5 tries, would outlast the webhook's 25 s on one slow call)."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.config import Config

from genbot.config import get_settings


def client_config(read_timeout: float = 3) -> Config:
    return Config(
        connect_timeout=1,
        read_timeout=read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        tcp_keepalive=True,
    )


@cache
def client(service: str, read_timeout: float = 3) -> Any:
    """One client per service and process, in the settings' region."""
    import boto3  # here, not at import: the webhook's cold start doesn't pay for it

    region = get_settings().aws_region
    return boto3.client(service, region_name=region, config=client_config(read_timeout))  # type: ignore[call-overload]
