"""Log lines name the work they belong to, across the queues: the worker's lines for a job carry
the Telegram update and the API request that made it; a broadcast's sends carry its id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from genbot.observability import logger
from tests.functional.emf import emf, values

pytestmark = pytest.mark.usefixtures("aws")


class Lines:
    """What the functions log (Powertools' JSON lines), at INFO as in AWS (the tests log WARNING)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def take(self) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]
        self.stream.seek(0)
        self.stream.truncate()
        return found


@pytest.fixture
def logs() -> Iterator[Lines]:
    captured = Lines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("INFO")
    yield captured
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_jobs_lines_carry_the_update_and_the_request_that_made_it(
    logs: Lines, chat_user, jobs, order_image
) -> None:
    person = chat_user(750001)
    person.start()
    order_image(person, "a lighthouse at dusk")
    confirm = person.last_update["update_id"]  # the press that debited and queued the job
    queued = [line for line in logs.take() if line.get("update_id") == confirm]
    assert queued and all(line.get("correlation_id") for line in queued)
    request = queued[-1]["correlation_id"]

    person.send("/balance")  # another update in between: the worker must not pick up its keys
    logs.take()
    jobs.drain()
    worker = logs.take()
    assert worker, "the worker logged nothing at INFO"
    assert {line.get("update_id") for line in worker} == {confirm}
    assert {line.get("correlation_id") for line in worker} == {request}
    (job_id,) = {line.get("job_id") for line in worker}
    assert job_id


def test_metrics_name_update_types_providers_and_credits(
    chat_user, jobs, order_image, capsys: pytest.CaptureFixture[str]
) -> None:
    person = chat_user(750011)
    person.start()
    person.press("no:such:button")  # a callback query
    webhook = emf(capsys.readouterr().out)
    assert values(webhook, "Updates_message") == [1.0] and values(webhook, "Updates_callback_query") == [1.0]

    order_image(person, "a lighthouse at dusk")
    order_image(person, "please refuse this one")
    capsys.readouterr()
    jobs.drain()
    worker = emf(capsys.readouterr().out)
    calls = [d for d in worker if "ProviderLatency" in d]
    assert sorted(d["outcome"] for d in calls) == ["ok", "refused"]
    assert {d["provider"] for d in calls} == {"fake"}
    (served,) = [d for d in calls if d["outcome"] == "ok"]
    dimensions = served["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert set(dimensions) >= {"provider", "outcome"}
    assert served["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Milliseconds"
    assert values(worker, "CreditsSpent") == [1.0] and values(worker, "CreditsRefunded") == [1.0]
