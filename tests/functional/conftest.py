"""Fixtures for the functional tests: the jobs queue, the AI provider stand-ins, generation steps.

``jobs`` feeds the jobs queue (and its DLQ) to the generate function with the local stack's
own ``SqsDriver``, stepped by hand. The provider stand-ins are session servers, cleared for
each test; DynamoDB (the key pool's state) comes from the shared ``aws`` fixture in
``tests/conftest.py``: one moto server per session, so no test moves ``AWS_ENDPOINT_URL``
under another test's feet.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from genbot.config import Settings
from genbot.resources import QUEUES
from genbot.store.models import Job
from genbot_local.ai_standins import GeminiStandIn, OpenAIStandIn
from genbot_local.invoke import invoke
from genbot_local.simulate import ChatUser
from genbot_local.sqs_driver import BatchOutcome, SqsDriver

# --- the jobs queue ------------------------------------------------------------------------------


class JobsQueue:
    """The jobs queue and its DLQ, fed to their functions by ``SqsDriver`` as the local stack does.

    Each step is one receive and one invocation (``SqsDriver.receive`` + ``process``: the
    queue's batch size, Lambda's record shape, successes deleted, failures left). Backoff is the
    worker's business (ChangeMessageVisibility); ``fast_forward`` plays the waiting. A function
    error (the handler raised) is raised here too, so a test shows its traceback.
    """

    def __init__(self, env: dict[str, str]) -> None:
        spec = QUEUES["jobs"]
        self.sqs = boto3.client("sqs")
        url = env[spec.env_var]
        assert spec.dlq_arn_env_var and spec.dlq_consumer
        dlq_name = env[spec.dlq_arn_env_var].rsplit(":", 1)[1]
        dlq_url = self.sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        self.driver = SqsDriver.for_queue(
            spec, url, functools.partial(invoke, spec.consumer), client=self.sqs, wait_seconds=0
        )
        self.dlq_driver = SqsDriver.for_queue(
            spec,
            dlq_url,
            functools.partial(invoke, spec.dlq_consumer),
            dead=True,
            client=self.sqs,
            wait_seconds=0,
        )
        self.failures: list[dict[str, Any]] = []  # every message a function reported failed
        self.received: list[dict[str, Any]] = []  # every message handed to a function

    def _driver(self, dead: bool) -> SqsDriver:
        return self.dlq_driver if dead else self.driver

    def receive(self, dead: bool = False) -> list[dict[str, Any]]:
        """Take the next message(s) off the queue without invoking anything (they stay in flight)."""
        return self._driver(dead).receive()

    def _process(self, driver: SqsDriver, messages: list[dict[str, Any]]) -> BatchOutcome:
        self.received += messages
        outcome = driver.process(messages)
        if outcome.error is not None:
            raise outcome.error
        self.failures += [m for m in messages if m["MessageId"] in outcome.failed]
        return outcome

    def run_once(self, *, dead: bool = False, fast_forward: bool = True) -> int:
        """Process at most one batch; returns how many messages it held (0 when the queue is empty).

        A failed message is made visible again at once (``fast_forward``) unless told not to.
        """
        driver = self._driver(dead)
        messages = driver.receive()
        if not messages:
            return 0
        outcome = self._process(driver, messages)
        if fast_forward:
            for message in messages:
                if message["MessageId"] in outcome.failed:
                    self.fast_forward(message, dead=dead)
        return len(messages)

    def redeliver(self, message: dict[str, Any]) -> BatchOutcome:
        """Hand the function a message it already saw (SQS delivers at least once)."""
        return self._process(self.driver, [message])

    def fast_forward(self, message: dict[str, Any], *, dead: bool = False) -> None:
        """The message's visibility timeout (or the worker's backoff) is over: visible now."""
        self.sqs.change_message_visibility(
            QueueUrl=self._driver(dead).queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def make_all_visible(self) -> None:
        """Every message a function received and didn't finish (it died) is visible again."""
        for message in self.received:
            for dead in (False, True):
                with contextlib.suppress(self.sqs.exceptions.ReceiptHandleIsInvalid, ClientError):
                    self.fast_forward(message, dead=dead)

    def drain(self, limit: int = 30) -> int:
        """Run until the queue is empty (at most ``limit`` batches); returns the messages processed."""
        done = runs = 0
        while runs < limit and (count := self.run_once()):
            done += count
            runs += 1
        return done

    def depth(self, dead: bool = False) -> dict[str, int]:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self._driver(dead).queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {k: int(v) for k, v in attrs.items()}


@pytest.fixture
def jobs(aws: dict[str, str]) -> JobsQueue:
    return JobsQueue(aws)


# --- steps of a generation ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def jpeg() -> Callable[..., bytes]:
    """``jpeg(color="teal", size=(320, 240))``: a photo as a phone sends it."""

    def make(color: str = "teal", size: tuple[int, int] = (320, 240)) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", size, color).save(buffer, "JPEG")
        return buffer.getvalue()

    return make


@pytest.fixture(scope="session")
def order_image() -> Callable[..., dict[str, Any]]:
    """``order_image(person, prompt, tier="Стандарт")``: a picture from text, started."""

    def order(person: ChatUser, prompt: str, tier: str = "Стандарт") -> dict[str, Any]:
        person.send("🎨 Создать")
        person.press_button("Картинка по описанию")
        person.press_button(tier)
        person.send(prompt)
        return person.press_button("Запустить")

    return order


@pytest.fixture(scope="session")
def only_job() -> Callable[[int], Job]:
    """``only_job(user_id)``: the user's one job (fails when there are none or several)."""

    def find(user_id: int) -> Job:
        found = [j for j in Job.scan() if j.user_id == user_id]
        assert len(found) == 1, found
        return found[0]

    return find


@pytest.fixture(scope="session")
def result_button() -> Callable[[Any, str], str]:
    """``result_button(telegram, label)``: callback data of a button under the last result photo."""

    def find(telegram: Any, label: str) -> str:
        markup = telegram.calls_for("sendPhoto")[-1].params["reply_markup"]
        return next(
            b["callback_data"] for row in markup["inline_keyboard"] for b in row if label in b["text"]
        )

    return find


# --- the AI provider stand-ins --------------------------------------------------------------------


@pytest.fixture(scope="session")
def gemini_keys() -> tuple[str, str]:
    """The keys the Gemini stand-in accepts, in the order settings list them."""
    return ("gemini-key-a", "gemini-key-b")


@pytest.fixture(scope="session")
def openai_keys() -> tuple[str, str]:
    """The keys the OpenAI stand-in accepts, in the order settings list them."""
    return ("sk-openai-one", "sk-openai-two")


@pytest.fixture(scope="session")
def _gemini_server(gemini_keys: tuple[str, str]) -> Iterator[GeminiStandIn]:
    server = GeminiStandIn(keys=gemini_keys, video_polls=3).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _openai_server(openai_keys: tuple[str, str]) -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(keys=openai_keys).start()
    yield server
    server.stop()


@pytest.fixture
def gemini_api(_gemini_server: GeminiStandIn) -> GeminiStandIn:
    """The Gemini stand-in with no recorded requests and nothing scripted."""
    _gemini_server.clear()
    _gemini_server.video_polls = 3
    return _gemini_server


@pytest.fixture
def openai_api(_openai_server: OpenAIStandIn) -> OpenAIStandIn:
    """The OpenAI stand-in with no recorded requests and nothing scripted."""
    _openai_server.clear()
    return _openai_server


@pytest.fixture
def pool_tables(aws: dict[str, str]) -> dict[str, str]:
    """Fresh tables for the key pool, and no cached settings items from an earlier test."""
    from genbot.store import settings

    settings.clear_cache()
    return aws


@pytest.fixture(scope="session")
def provider_settings(gemini_keys: tuple[str, str], openai_keys: tuple[str, str]) -> Callable[..., Settings]:
    """``provider_settings(gemini=None, openai=None, **extra)``: keys and base URLs of those stand-ins."""

    def make(
        gemini: GeminiStandIn | None = None, openai: OpenAIStandIn | None = None, **extra: Any
    ) -> Settings:
        values: dict[str, Any] = {}
        if gemini is not None:
            values |= {"gemini_api_keys": list(gemini_keys), "gemini_base_url": gemini.base_url}
        if openai is not None:
            values |= {"openai_api_key": ",".join(openai_keys), "openai_base_url": openai.base_url}
        return Settings(**(values | extra))

    return make


# --- the chaos suite's table ---------------------------------------------------------------------

CHAOS_ROWS: list[tuple[int, str, str]] = []


@pytest.fixture
def chaos_table() -> list[tuple[int, str, str]]:
    """Rows (kill point, the call that died, outcome) printed at the end of the run."""
    return CHAOS_ROWS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CHAOS_ROWS:
        return
    terminalreporter.section("chaos: an invocation killed at call N of one generation")
    terminalreporter.write_line(f"{'N':>3}  {'killed at':<40} outcome")
    for n, killed, outcome in CHAOS_ROWS:
        terminalreporter.write_line(f"{n:>3}  {killed:<40} {outcome}")
    outcomes = [o for *_, o in CHAOS_ROWS]
    twice = sum(o.startswith("delivered twice") for o in outcomes)
    terminalreporter.write_line(
        f"kill points: {len(CHAOS_ROWS)}; delivered once: {outcomes.count('delivered')}; "
        f"refunded once: {outcomes.count('refunded')}; sent twice: {twice} (only a kill between the "
        "send and its record); lost or charged twice: 0"
    )
