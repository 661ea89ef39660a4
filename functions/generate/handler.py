"""Lambda entry point for generation jobs (SQS, with partial batch failures)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from genbot.jobs.worker import JobRecord, handle_record
from genbot.observability import logger, metrics, tracer

# Batch size is 1: a failed record is the whole batch. Report it as a batch item failure (the
# worker already set its backoff) rather than a function error that would trip the alarm.
processor = BatchProcessor(event_type=EventType.SQS, model=JobRecord, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
