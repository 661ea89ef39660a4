"""Lambda entry point for Telegram's webhook (API Gateway HTTP API, payload 2.0)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot import snapstart
from genbot.bot.webhook import WebhookApp
from genbot.observability import logger, metrics, tracer

app = WebhookApp()
snapstart.install()  # SnapStart: prime before the snapshot, refresh after restore


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayProxyEventV2)
def handler(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict[str, Any]:
    return app.handle(event, context.get_remaining_time_in_millis())
