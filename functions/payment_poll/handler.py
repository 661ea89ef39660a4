"""Lambda entry point for YooKassa payments: the poll schedule and the notification route."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot.observability import logger, metrics, tracer
from genbot.payments.poll import handle


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)
