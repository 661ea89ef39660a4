"""Lambda entry point for the hourly ledger audit: the users whose ledger moved since the last run."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot.ledger.audit import handle
from genbot.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)
