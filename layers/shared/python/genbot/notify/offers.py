"""The discount offer: once, to a user whose only generation emptied the balance a day ago.

Eligible: exactly one generation, balance 0, the first generation more than
``OFFER_DELAY_HOURS`` ago, never offered. The debit of a first generation that empties the
balance puts the user in the sparse ``User.offer_due`` index (``genbot.users.notices``); a run
(every 15 minutes) reads the users due there, never the whole table. A user who stopped being
eligible (paid, generated again, turned offers off) leaves the index on the read that finds it,
so every user costs at most a couple of reads, whatever the table's size.

Once only: the run takes the user with a conditional update that removes the key, stamps
``offer_sent_at`` and opens the offer (``offer_until``) before sending; an overlapping or
retried run finds the key gone. The offer's pack (``OFFER_PACK``) sells to that user alone
until ``offer_until`` (``genbot.payments.products.offer_product``), once.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from genbot.config import Settings
from genbot.i18n import N_, translate, translate_plural
from genbot.notify.common import Outcome, deliver, move_key, run_due, wants, with_footer
from genbot.observability import logger, metrics
from genbot.payments import yookassa
from genbot.payments.products import OFFER, offer_product, products
from genbot.store.models import DUE, User
from genbot.telegram.callbacks import BuyCb, RubCb
from genbot.vocab import NoticeKind

TEXT = N_(
    "🎁 A gift for you: {credits} for {stars} ⭐ — {discount}% less than usual. Only for you, until {until}."
)
TEXT_NO_DISCOUNT = N_("🎁 A gift for you: {credits} for {stars} ⭐. Only for you, until {until}.")
BUTTON_STARS = N_("{credits} — {stars} ⭐")
BUTTON_RUBLES = N_("{credits} — 💳 {rubles} ₽")


def run(settings: Settings, now: float | None = None) -> dict[str, object]:
    return run_due("offers", User.offer_due, settings, now, _offer)


async def _offer(settings: Settings, bot: Bot, user: User, now: int) -> Outcome:
    def leave() -> Outcome:
        move_key(user, User.offer_at, User.offer_q, None)
        return Outcome.SKIPPED

    if user.offer_sent_at is not None or int(user.generations or 0) > 1 or int(user.balance) != 0:
        return leave()
    if int(user.generations or 0) == 0 or user.first_generation_at is None:
        # the first generation failed (refunded: the balance is back) or hasn't finished
        return leave() if int(user.active_jobs or 0) == 0 else _later(user, now + 3600)
    ready = int(user.first_generation_at) + int(settings.offer_delay_hours * 3600)
    if ready > now:
        return _later(user, ready)
    if not wants(user, NoticeKind.OFFERS):
        return leave()
    until = now + int(settings.offer_hours * 3600)
    taken = move_key(
        user,
        User.offer_at,
        User.offer_q,
        None,
        extra=[User.offer_sent_at.set(now), User.offer_until.set(until)],
        condition=(User.balance == 0) & (User.generations == 1) & User.offer_sent_at.does_not_exist(),
    )
    if not taken:
        return Outcome.SKIPPED
    user.offer_until = until
    outcome, _ = await deliver(bot, user, _message(settings, user, until), kind=str(NoticeKind.OFFERS))
    if outcome == Outcome.RETRY:
        _put_back(user, now)
    elif outcome == Outcome.SENT:
        metrics.add_metric(name="OffersSent", unit="Count", value=1)
    return outcome


def _later(user: User, at: int) -> Outcome:
    move_key(user, User.offer_at, User.offer_q, at)
    return Outcome.SKIPPED


def _put_back(user: User, now: int) -> None:
    """Telegram said "later": the offer was not sent; make the user due again."""
    try:
        User(user.user_id).update(
            actions=[
                User.offer_sent_at.remove(),
                User.offer_until.remove(),
                User.offer_q.set(DUE),
                User.offer_at.set(now),
            ],
            condition=User.offer_sent_at == now,
        )
    except Exception:  # logged; at worst this user misses the offer
        logger.exception("could not put an unsent offer back", extra={"user_id": int(user.user_id)})


def _message(settings: Settings, user: User, until: int) -> SendMessage:
    language = str(user.language)
    item = offer_product(settings, user, now=until - 1)
    assert item is not None
    amount = translate_plural("{n} credit", "{n} credits", item.credits, language)
    regular = _regular_stars(settings, item.credits)
    when = datetime.fromtimestamp(until, ZoneInfo(settings.timezone)).strftime("%d.%m %H:%M")
    if regular > item.stars:
        discount = round(100 * (regular - item.stars) / regular)
        text = translate(TEXT, language, credits=amount, stars=item.stars, discount=discount, until=when)
    else:
        text = translate(TEXT_NO_DISCOUNT, language, credits=amount, stars=item.stars, until=when)
    rows = [
        [
            InlineKeyboardButton(
                text=translate(BUTTON_STARS, language, credits=amount, stars=item.stars),
                callback_data=BuyCb(product=OFFER).pack(),
            )
        ]
    ]
    if yookassa.configured(settings):
        rows.append(
            [
                InlineKeyboardButton(
                    text=translate(BUTTON_RUBLES, language, credits=amount, rubles=item.rubles),
                    callback_data=RubCb(product=OFFER).pack(),
                )
            ]
        )
    return SendMessage(
        chat_id=int(user.user_id),
        text=with_footer(text, language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


def _regular_stars(settings: Settings, credits: int) -> int:
    """What these credits cost at the best regular pack's price per credit."""
    packs = products(settings)
    if not packs:
        return 0
    best = min(p.stars / p.credits for p in packs)
    return round(best * credits)
