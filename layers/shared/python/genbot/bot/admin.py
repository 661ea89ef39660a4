"""``/admin``: the operator's numbers at a glance and a button into the cabinet's admin section.

Operators only (``ADMIN_IDS``): for anyone else the command matches nothing here and gets the
answer any unknown command gets. Each number is one cheap call: the users total is DynamoDB's
``ItemCount`` (DescribeTable, refreshed about every 6 hours), the jobs in progress one COUNT
Query of the jobs' sparse ``active`` index. The cabinet's admin section (``CABINET_URL``) has
the rest: revenue, users, promo codes, settings, broadcasts, the audit and the admin log.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo
from aiogram.utils.i18n import gettext as _

from genbot.bot.broadcast import is_admin
from genbot.config import Settings
from genbot.jobs.service import SWEEP
from genbot.store.models import Job, User

router = Router(name="admin")

ADMIN_SECTION = "#admin"  # the site's admin section


def admin_url(settings: Settings) -> str | None:
    """The cabinet's admin section, when the cabinet's URL is known (an https:// Mini App)."""
    base = settings.cabinet_url.strip()
    return f"{base.split('#', 1)[0]}{ADMIN_SECTION}" if base.startswith("https://") else None


@router.message(Command("admin"), is_admin)
async def admin(message: Message, settings: Settings) -> SendMessage:
    """Users total, jobs in progress, and the button into the cabinet's admin section."""
    users = int(User.describe_table().get("ItemCount", 0))
    running = Job.active.count(SWEEP)
    lines = [
        _("🛠 Operator"),
        _("Users: {users} (updated about every 6 hours)").format(users=users),
        _("Jobs in progress: {jobs}").format(jobs=running),
    ]
    url = admin_url(settings)
    markup = None
    if url is not None:
        button = InlineKeyboardButton(text=_("Open the admin section"), web_app=WebAppInfo(url=url))
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    else:
        lines.append(_("Set CABINET_URL to open the admin section from here."))
    return message.answer("\n".join(lines), reply_markup=markup)
