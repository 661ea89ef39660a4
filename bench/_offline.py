"""The environment every bench runs in: test credentials, one region, quiet Powertools.

Set before anything imports boto3 or genbot (the benches import those inside ``main``).
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "LOG_LEVEL": "ERROR",
}


def use_offline_env() -> None:
    os.environ.update(OFFLINE_ENV)
