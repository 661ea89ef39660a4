"""Powertools Logger, Metrics and Tracer: one instance each per process.

Every function uses these (service name from ``POWERTOOLS_SERVICE_NAME``, set per function
by CDK). Outside Lambda the tracer is disabled and metrics are not flushed unless asked.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "genbot")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "genbot"))
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer()
