"""``/admin``: the operator's numbers at a glance and a button into the cabinet's admin section.

Operators only (``ADMIN_IDS``): for anyone else the command matches nothing here and gets the
answer any unknown command gets. Each number is one cheap call: the users total is DynamoDB's
``ItemCount`` (DescribeTable, refreshed about every 6 hours), the jobs in progress one COUNT
Query of the jobs' sparse ``active`` index, today's numbers one Query of the month's
``genbot.stats`` counters. The cabinet's admin section (``CABINET_URL``) has
the rest: revenue, users, promo codes, settings, broadcasts, the audit and the admin log.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from genbot import stats
from genbot.bot.broadcast import is_admin
from genbot.bot.keyboards import cabinet_button
from genbot.config import Settings
from genbot.jobs.service import SWEEP
from genbot.store.models import Job, User

router = Router(name="admin")

ADMIN_SECTION = "#admin"  # the site's admin section


@router.message(Command("admin"), is_admin)
async def admin(message: Message, settings: Settings) -> SendMessage:
    """Users total, jobs in progress, and the button into the cabinet's admin section."""
    users = int(User.describe_table().get("ItemCount", 0))
    running = Job.active.count(SWEEP)
    (today,) = stats.read(1)
    generations = [values for _what, values in today.starting("gen#")]
    payments = dict(today.starting("pay#"))
    lines = [
        _("🛠 Operator"),
        _("Users: {users} (updated about every 6 hours)").format(users=users),
        _("Jobs in progress: {jobs}").format(jobs=running),
        "",
        _("Today ({day}):").format(day=today.day.isoformat()),
        _("New users: {new}, active: {active}").format(
            new=today.get(stats.USERS, "new_users"), active=today.get(stats.USERS, "active_users")
        ),
        _("Generations: {jobs} (failed: {failed})").format(
            jobs=sum(g.get("jobs", 0) for g in generations),
            failed=sum(g.get("failed", 0) for g in generations),
        ),
        _("Assistant messages: {messages}").format(messages=today.get(stats.CHAT, "messages")),
        _("Paid: {stars} ⭐, {rubles} ₽; credits sold: {credits}").format(
            stars=payments.get("pay#XTR", {}).get("amount", 0),
            rubles=f"{payments.get('pay#RUB', {}).get('amount', 0) / 100:.2f}",
            credits=sum(p.get("credits", 0) for p in payments.values()),
        ),
    ]
    markup = cabinet_button(settings, _("Open the admin section"), ADMIN_SECTION)
    if markup is None:
        lines.append(_("Set CABINET_URL to open the admin section from here."))
    return message.answer("\n".join(lines), reply_markup=markup)
