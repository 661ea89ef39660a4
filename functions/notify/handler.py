"""Lambda entry point for notices: the offer, bonus and subscription schedules and the
broadcast queue (``genbot.notify.tasks``)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot.notify.tasks import handle
from genbot.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
