"""The bot end to end through the local stack, driven as a person would through the stand-in.

The real ``LocalStack`` runs in this process (so coverage counts) on free ports with fast
settings: the Bot API stand-in, getUpdates long polling into the ``webhook`` function, the
SQS drivers feeding ``generate`` (1 s long polls), the fake providers. A user types and
presses buttons in the stand-in; nothing calls a handler directly.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genbot.cli import main as genbot_cli
from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.resources import BUCKETS, QUEUES
from genbot.store.models import Job, LedgerEntry, User
from genbot.store.tables import table_specs
from genbot_local.aws import free_port
from genbot_local.simulate import eventually
from genbot_local.stack import LocalStack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds: a bound, never an expectation


class Person:
    """Someone in the web chat: every step is an update through getUpdates -> webhook."""

    def __init__(self, stack: LocalStack, user_id: int) -> None:
        self.stack = stack
        self.standin = stack.standin
        self.user_id = user_id

    def _processed(self, update: dict[str, Any]) -> dict[str, Any]:
        poller = self.stack.poller
        eventually(lambda: (poller.offset or 0) > update["update_id"], what=f"update {update['update_id']}")
        return update

    def say(self, text: str) -> dict[str, Any]:
        return self._processed(self.standin.user_message(self.user_id, text, first_name="Ира"))

    def send_photo(self, image: bytes, caption: str | None = None) -> dict[str, Any]:
        return self._processed(self.standin.user_photo(self.user_id, image, caption=caption))

    def messages(self) -> list[dict[str, Any]]:
        return self.standin.chat_messages(self.user_id)

    def bot_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages() if (m.get("from") or {}).get("is_bot")]

    def last_text(self) -> str:
        message = self.bot_messages()[-1]
        return str(message.get("text") or message.get("caption") or "")

    def press(self, label: str) -> dict[str, Any]:
        """Press the newest inline button whose text contains ``label``."""
        for message in reversed(self.bot_messages()):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"] and "callback_data" in button:
                        update = self.standin.user_callback(
                            self.user_id, message["message_id"], button["callback_data"]
                        )
                        return self._processed(update)
        raise AssertionError(
            f"no button {label!r} in the chat: {[m.get('text') for m in self.bot_messages()]}"
        )

    def sent(self, method: str) -> list[Any]:
        return [
            c for c in self.standin.calls_for(method) if str(c.params.get("chat_id")) == str(self.user_id)
        ]

    def wait_sent(self, method: str, count: int = 1) -> Any:
        return eventually(lambda: len(self.sent(method)) >= count and self.sent(method)[-1], what=method)


def jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buffer, "JPEG")
    return buffer.getvalue()


def jobs_of(user_id: int) -> list[Job]:
    return [j for j in Job.scan(consistent_read=True) if int(j.user_id) == user_id]


def order_image(person: Person, prompt: str) -> None:
    person.say("🎨 Создать")
    person.press("Картинка по описанию")
    person.press("Стандарт")
    person.say(prompt)
    person.press("Запустить")


def test_a_new_user_generates_edits_animates_and_the_ledger_adds_up(stack: LocalStack) -> None:
    person = Person(stack, 515151)

    person.say("/start")
    assert User.get(515151).balance == 3
    person.say("/balance")
    assert "Баланс: 3 кредита" in person.last_text()
    apply(Posting(515151, "grant#e2e", 27, "grant"))  # 30 credits: enough for a video too

    # A picture from text
    order_image(person, "a red fox in the snow, watercolor")
    photo = person.wait_sent("sendPhoto")
    assert photo.params.get("caption") == "a red fox in the snow, watercolor"
    assert any(m.get("photo") for m in person.bot_messages()), "the photo is in the chat"
    (image_job,) = jobs_of(515151)
    eventually(lambda: Job.get(image_job.job_id).delivered, what="image delivered")

    # Edit a photo
    person.send_photo(jpeg("teal"))
    person.press("Изменить фото")
    person.press("Стандарт")
    person.say("make it look like an oil painting")
    person.press("Запустить")
    edited = person.wait_sent("sendPhoto", 2)
    assert edited.params.get("caption") == "make it look like an oil painting"
    assert stack.standin.calls_for("getFile"), "the worker fetched the user's photo through the Bot API"

    # Animate a photo: a long-running operation, polled through delayed SQS messages
    person.send_photo(jpeg("orange"), caption="waves roll in")
    person.press("Оживить фото")
    person.press("Стандарт")
    person.press("Запустить")
    video = person.wait_sent("sendVideo")
    assert video.params.get("caption") == "waves roll in"
    (video_job,) = [j for j in jobs_of(515151) if j.mode == "video"]
    video_job = Job.get(video_job.job_id)
    assert video_job.status == "succeeded" and int(video_job.polls) >= 2

    def video_invocations() -> list[str]:
        return [line for line in stack.output.getvalue().splitlines() if video_job.job_id in line]

    # start + at least two polls, each its own invocation (the last line is written once it returns)
    eventually(lambda: len(video_invocations()) >= 3, what="three generate invocations for the video")

    user = User.get(515151)
    assert user.balance == 30 - 1 - 2 - 10 and user.active_jobs == 0
    assert audit() == []
    assert genbot_cli(["audit"]) == 0


def test_a_refused_prompt_is_refunded_and_a_duplicate_delivery_changes_nothing(stack: LocalStack) -> None:
    person = Person(stack, 525252)
    person.say("/start")

    order_image(person, "please refuse this one")
    eventually(
        lambda: (
            any("отклонил" in str(c.params.get("text", "")) for c in person.sent("sendMessage"))
            or any("отклонил" in str(c.params.get("text", "")) for c in person.sent("editMessageText"))
        ),
        what="the refusal notice",
    )
    (job,) = jobs_of(525252)
    job = eventually(lambda: (j := Job.get(job.job_id)).status == "failed" and j, what="job failed")
    assert job.error_code.startswith("refused")
    assert User.get(525252).balance == 3
    ops = sorted((e.op_id, int(e.delta)) for e in LedgerEntry.query(525252))
    assert ops == sorted(
        [("bonus#welcome", 3), (f"job#{job.job_id}#debit", -1), (f"job#{job.job_id}#refund", 1)]
    )

    # Telegram delivers the same update again (e.g. our 200 got lost): nothing changes.
    person.say("🎨 Создать")
    person.press("Картинка по описанию")
    person.press("Стандарт")
    person.say("a quiet harbour at dawn")
    confirm = person.press("Запустить")
    person.wait_sent("sendPhoto")
    before = (User.get(525252).balance, len(jobs_of(525252)), len(person.sent("sendPhoto")))
    response = stack.deliver_update(confirm)
    assert response["statusCode"] == 200
    again = stack.standin.inject_update(confirm)  # and through getUpdates too
    assert again["update_id"] == confirm["update_id"]
    person.say("/balance")  # anything after it is processed in order
    assert (User.get(525252).balance, len(jobs_of(525252)), len(person.sent("sendPhoto"))) == before
    assert before[0] == 2
    assert audit() == []


def test_genbot_dev_runs_as_a_command(tmp_path: Path) -> None:
    """The real command: banner, the web chat page, a clean stop on SIGINT."""
    port, api_port, moto_port = free_port(), free_port(), free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_API_URL")
    }
    env["PYTHONUNBUFFERED"] = "1"
    code = (
        "import sys; from genbot_local.stack import add_arguments, main; import argparse;"
        "sys.exit(main(add_arguments(argparse.ArgumentParser()).parse_args(sys.argv[1:])))"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            *("--port", str(port), "--api-port", str(api_port), "--moto-port", str(moto_port)),
            *("--env-file", str(tmp_path / "env")),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": f"{ROOT / 'layers/shared/python'}:{ROOT}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in banner, banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and "<html" in page.read().decode().lower()
        written = dict(
            line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
        )
        resources = [*table_specs(), *QUEUES.values(), *BUCKETS.values()]  # every table, queue, bucket
        assert {r.env_var for r in resources} <= set(written), written
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=WAIT)
    assert process.returncode == 0, "".join(lines) + rest
    assert "genbot dev: stopped" in rest


def test_a_person_generates_a_picture_in_the_web_chat(stack: LocalStack, chromium, artifacts: Path) -> None:
    """Real Chromium on the stand-in's web chat: /start, Generate, a prompt, the photo arrives."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(WAIT * 1000)
    page.goto(str(stack.chat_url))
    page.fill("#new-user-name", "Маша")
    page.select_option("#new-user-lang", "ru")
    page.click("#new-user button[type=submit]")
    expect(page.locator("#chat-as")).to_contain_text("Маша")

    def send(text: str) -> None:
        page.fill("#text", text)
        page.click("#send")

    def press(label: str) -> None:
        page.locator(".inline-kb button", has_text=label).last.click()

    send("/start")
    page.locator("#reply-keyboard button", has_text="Создать").click()
    press("Картинка по описанию")
    press("Стандарт")
    send("a lighthouse on a cliff at dusk")
    press("Запустить")
    photo = page.locator(".row.in .bubble.has-media img").last
    expect(photo).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo.element_handle())
    expect(page.locator(".row.in .bubble.has-media").last).to_contain_text("a lighthouse on a cliff")
    page.locator("#messages").evaluate("box => { box.scrollTop = box.scrollHeight; }")
    page.screenshot(path=str(artifacts / "local_stack_chat.png"))

    (user,) = [u for u in User.scan(consistent_read=True) if u.first_name == "Маша"]
    assert user.balance == 2 and audit() == []


def test_a_person_buys_a_pack_with_stars_in_the_web_chat(
    stack: LocalStack, chromium, artifacts: Path
) -> None:
    """Real Chromium: Buy credits, a pack's button, the invoice paid in the page, the balance."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(WAIT * 1000)
    page.goto(str(stack.chat_url))
    page.fill("#new-user-name", "Пётр")
    page.select_option("#new-user-lang", "ru")
    page.click("#new-user button[type=submit]")
    expect(page.locator("#chat-as")).to_contain_text("Пётр")
    page.fill("#text", "/start")
    page.click("#send")
    expect(page.locator("#reply-keyboard button", has_text="Купить кредиты")).to_be_visible()

    page.locator("#reply-keyboard button", has_text="Купить кредиты").click()
    page.locator(".inline-kb button", has_text="20 кредитов — 100 ⭐").last.click()
    card = page.locator(".invoice").last
    expect(card).to_contain_text("100 ★")
    card.locator(".pay-button").click()

    expect(page.locator(".row.in .text", has_text="Оплата получена").last).to_contain_text("23 кредита")
    page.locator("#messages").evaluate("box => { box.scrollTop = box.scrollHeight; }")
    page.screenshot(path=str(artifacts / "local_stack_stars_purchase.png"))
    (user,) = [u for u in User.scan(consistent_read=True) if u.first_name == "Пётр"]
    assert user.balance == 23 and audit() == []
