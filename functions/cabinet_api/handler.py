"""Lambda entry point for the cabinet's JSON API (API Gateway HTTP API, payload 2.0;
docs/cabinet-api.md): the Powertools resolver built in ``genbot.cabinet.app``."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot import snapstart
from genbot.cabinet.app import app
from genbot.observability import logger, metrics, tracer

snapstart.install()  # SnapStart: the same hooks as the webhook (fresh clients after restore)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
