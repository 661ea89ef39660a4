"""Lambda entry point for generation jobs (SQS, partial batch failures) and the stuck-job sweep."""

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot.jobs.sweeper import sweep
from genbot.jobs.worker import handle_record, processor
from genbot.observability import logger, metrics, tracer

batch = processor()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("task") == "sweep_jobs":  # the EventBridge Scheduler schedule's input
        return sweep().as_dict()
    return dict(
        process_partial_response(event=event, record_handler=handle_record, processor=batch, context=context)
    )
