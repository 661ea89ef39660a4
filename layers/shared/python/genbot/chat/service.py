"""Asking the assistant, from the webhook: pay for the message and queue it as a ``chat`` job.

One transaction (``genbot.jobs.service.create``) takes the payment (the daily allowance, a trial
message, or ``COST_CHAT`` credits through the ledger), writes the question into the
conversation and creates the job; the job id comes from the update, so a redelivered update
asks once. The model is called by the ``generate`` function (API Gateway's 30 s rule out the
webhook), which streams the answer (``genbot.chat.answer``).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from pynamodb.exceptions import UpdateError

from genbot.chat import access, context
from genbot.config import Settings
from genbot.jobs import service
from genbot.ledger import InsufficientFundsError
from genbot.observability import logger
from genbot.store.models import Job, User, condition_failed, now_ms
from genbot.store.transaction import Transaction
from genbot.users import took
from genbot.vocab import Funding, Mode, Tier

DEFAULT_CONV = "c0"  # the conversation before the first /new


class Outcome(StrEnum):
    QUEUED = "queued"
    REPLAY = "replay"  # a redelivered update: asked already
    TRIAL_OFFER = "trial_offer"  # never tried: offer the trial first (the question is kept)
    NO_ACCESS = "no_access"  # no subscription allowance, no trial, not enough credits
    BUSY = "busy"  # MAX_USER_QUEUE messages and generations in flight


@dataclass(frozen=True)
class Asked:
    outcome: Outcome
    funding: Funding | None = None
    job: Job | None = None
    trial_left: int | None = None


def conversation(user: User) -> str:
    return str(user.chat_conv or DEFAULT_CONV)


def ask(
    settings: Settings,
    user: User,
    *,
    job_id: str,
    chat_id: int,
    text: str,
    language: str,
    input_kind: str | None = None,
    file_id: str | None = None,
    offer_trial: bool = True,
) -> Asked:
    """Charge for and queue one message to the assistant."""
    funding = access.choose(settings, user)
    never_tried = user.chat_trial_left is None and settings.chat_trial > 0
    if offer_trial and never_tried and funding in (None, Funding.CREDITS):
        keep_pending(user, text if input_kind is None else "")
        return Asked(Outcome.TRIAL_OFFER)
    if funding is None:
        return Asked(Outcome.NO_ACCESS)
    asked_ms = now_ms()
    conv = conversation(user)
    actions, condition = access.charge(settings, user, funding)
    new = service.NewJob(
        job_id=job_id,
        user_id=int(user.user_id),
        chat_id=chat_id,
        mode=Mode.CHAT,
        tier=Tier.STANDARD,
        prompt="",  # the text lives in the conversation (with its TTL), never on the job
        price=settings.cost_chat if funding == Funding.CREDITS else 0,
        language=language,
        input_file_id=file_id,
        funding=funding,
        input_kind=input_kind,
        conv_id=conv,
    )

    def question(tx: Transaction) -> None:
        context.add_question(
            tx,
            int(user.user_id),
            conv,
            asked_ms,
            job_id,
            text,
            settings.chat_context_hours,
            image=input_kind == "photo",
        )

    try:
        job = service.create(
            settings,
            new,
            user_actions=[*actions, User.chat_pending.remove()],
            user_condition=condition,
            extra=[question],
            created_ms=asked_ms,
        )
    except service.TooManyJobsError:
        return Asked(Outcome.BUSY)
    except (InsufficientFundsError, service.StaleDraftError):
        # the allowance or the trial ran out between the read and the charge
        return Asked(Outcome.NO_ACCESS)
    if job is None:
        return Asked(Outcome.REPLAY)
    left = int(user.chat_trial_left) - 1 if funding == Funding.TRIAL and user.chat_trial_left else None
    return Asked(Outcome.QUEUED, funding, job, left)


def keep_pending(user: User, text: str) -> None:
    """The question asked before the trial was taken: asked when it is."""
    if text:
        User(user.user_id).update(actions=[User.chat_pending.set(text)])
        user.chat_pending = text


def activate_trial(settings: Settings, user: User) -> bool:
    """The free trial, once ever: False when it was activated before.

    The update writes a token: when the condition fails, one read tells this update's own SDK
    resend (the first attempt landed, its answer was lost) from a trial taken before, so the user
    is not told they used it already.
    """
    token = secrets.token_hex(16)
    try:
        User(user.user_id).update(
            actions=[
                User.chat_trial_left.set(settings.chat_trial),
                User.chat_mode.set(True),
                User.taken_by.set(token),
            ],
            condition=User.chat_trial_left.does_not_exist(),
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        if not took(int(user.user_id), token):
            return False
    user.chat_trial_left = settings.chat_trial
    logger.info("chat trial activated", extra={"user_id": int(user.user_id)})
    return True


def new_conversation(user: User) -> None:
    """/new: later questions start from an empty context (the old one expires by its TTL)."""
    conv = f"c{int(time.time())}{secrets.token_hex(2)}"
    User(user.user_id).update(actions=[User.chat_conv.set(conv)])
    user.chat_conv = conv


def set_mode(user: User, on: bool) -> None:
    User(user.user_id).update(actions=[User.chat_mode.set(on)])
    user.chat_mode = on
