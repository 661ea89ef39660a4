"""The ``genbot`` command: the operator's tools, plus whatever plugins add.

genbot audit       exit 0 when every user's ledger sums to their balance, 1 otherwise
genbot state       users, balances and recent jobs, as JSON
genbot promo       promo codes: create CODE --credits N --uses M [--expires DATE], disable, show
genbot refund      refund a payment (Stars or YooKassa) and take its credits back, once
genbot broadcast   a message to all users or a segment: send (preview, y/N), status ID, list, cancel ID
genbot webhook     Telegram's webhook: info, set --url URL (with the secret and allowed updates), delete
genbot release     what is deployed: list, rollback (live aliases to the previous release), prune

In the development environment the local package adds (entry points ``genbot.commands``):
genbot dev         run the whole bot on this machine (see README)
genbot bootstrap   create every table/queue/bucket on AWS_ENDPOINT_URL; print NAME=value
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from genbot import releases

PLUGIN_GROUP = "genbot.commands"  # each entry point: a function that adds subcommands


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def cmd_audit(_: argparse.Namespace) -> int:
    from genbot.ledger.audit import audit

    problems = audit()
    for p in problems:
        balance = "no user" if p.balance is None else p.balance
        _out(f"user {p.user_id}: balance {balance} != ledger sum {p.ledger_sum}")
    _out("audit: ok" if not problems else f"audit: {len(problems)} user(s) differ")
    return 1 if problems else 0


def cmd_state(args: argparse.Namespace) -> int:
    from genbot.store.models import Job, User

    users = [
        {"user_id": int(u.user_id), "balance": int(u.balance), "language": u.language, "blocked": u.blocked}
        for u in User.scan(limit=args.limit)
    ]
    jobs = sorted(
        (
            {
                "job_id": j.job_id,
                "user_id": int(j.user_id),
                "mode": j.mode,
                "status": j.status,
                "price": int(j.price),
                "error": j.error_code,
            }
            for j in Job.scan(limit=args.limit)
        ),
        key=lambda j: str(j["job_id"]),
    )
    _out(json.dumps({"users": users, "jobs": jobs}, ensure_ascii=False, indent=2))
    return 0


def expiry(value: str) -> int:
    """``2027-01-31``: the code works through that day, in the operator's time zone (epoch s).

    A date and time (``2027-01-31T18:00``, naive: the operator's time zone) ends it then.
    """
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from genbot.config import get_settings

    tz = ZoneInfo(get_settings().timezone)
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value) + timedelta(days=1), time(), tz)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give a date, YYYY-MM-DD") from None
    return int(moment.timestamp())


def _promo_lines(code: str) -> list[str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from genbot.config import get_settings
    from genbot.payments import promo

    found = promo.get(code)
    if found is None:
        return []
    tz = ZoneInfo(get_settings().timezone)
    expires = (
        "never"
        if found.expires_at is None
        else datetime.fromtimestamp(int(found.expires_at), tz).strftime("%Y-%m-%d %H:%M %Z")
    )
    created = datetime.fromtimestamp(int(found.created_at) / 1000, tz).strftime("%Y-%m-%d %H:%M %Z")
    return [
        f"code:     {found.code}",
        f"credits:  {int(found.credits)}",
        f"uses:     {int(found.used)} of {int(found.max_uses)}",
        f"expires:  {expires}",
        f"status:   {'disabled' if found.disabled else 'active'}",
        f"created:  {created} by {found.created_by or '?'}",
    ]


def cmd_promo(args: argparse.Namespace) -> int:
    from genbot.payments import promo

    try:
        if args.action == "create":
            promo.create(
                args.code,
                args.credits,
                args.uses,
                expires_at=args.expires,
                created_by=f"cli:{os.environ.get('USER') or 'operator'}",
            )
        elif args.action == "disable":
            promo.disable(args.code)
    except promo.CodeExistsError:
        sys.stderr.write(f"genbot promo: {promo.normalize(args.code)} exists already\n")
        return 1
    except promo.UnknownCodeError:
        sys.stderr.write(f"genbot promo: no code {promo.normalize(args.code)}\n")
        return 1
    except promo.InvalidPromoError as exc:
        sys.stderr.write(f"genbot promo: {exc}\n")
        return 1
    lines = _promo_lines(args.code)
    if not lines:
        sys.stderr.write(f"genbot promo: no code {promo.normalize(args.code)}\n")
        return 1
    for line in lines:
        _out(line)
    return 0


def cmd_refund(args: argparse.Namespace) -> int:
    from genbot.config import get_settings
    from genbot.payments import refunds

    try:
        result = refunds.refund(get_settings(), args.payment_id)
    except refunds.RefundError as exc:
        sys.stderr.write(f"genbot refund: {exc}\n")
        return 1
    if result.applied:
        from genbot.observability import logger

        logger.info("refund by operator", extra={"payment_id": result.payment_id, "reason": args.reason})
    reason = f" (reason: {args.reason})" if args.reason and result.applied else ""
    _out(refunds.describe(result) + reason)
    return 0


def _when(epoch_ms: int | None) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from genbot.config import get_settings

    if epoch_ms is None:
        return "-"
    moment = datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(get_settings().timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _broadcast_lines(broadcast_id: str) -> list[str]:
    from genbot.notify import broadcast

    item = broadcast.get(broadcast_id)
    if item is None:
        return []
    p = broadcast.progress(item)
    selection = "done" if p.selection_done else "in progress"
    lines = [
        f"broadcast: {p.broadcast_id}",
        f"status:    {p.status}",
        f"segment:   {broadcast.segment_of(item).describe()}",
        f"selected:  {p.selected} (selection {selection}, {p.pages} page(s))",
        f"sent:      {p.sent}",
        f"failed:    {p.failed}",
        f"blocked:   {p.blocked}",
        f"skipped:   {p.skipped}",
    ]
    if p.status == "sending":
        lines.append(f"left:      {max(0, p.selected - p.counted)}{'' if p.selection_done else ' (so far)'}")
    lines += [
        f"created:   {_when(p.created_at)} by {(item.data or {}).get('created_by') or '?'}",
        f"started:   {_when(p.started_at)}",
        f"finished:  {_when(p.finished_at)}",
    ]
    return lines


def _confirm(question: str) -> bool:
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_broadcast(args: argparse.Namespace) -> int:
    from genbot.config import get_settings
    from genbot.notify import broadcast

    settings = get_settings()
    if args.action == "list":
        for item in broadcast.recent(args.limit):
            p = broadcast.progress(item)
            text = " ".join(str((item.data or {}).get("text", "")).split())
            _out(
                f"{p.broadcast_id}  {p.status:<9}  {_when(p.created_at)}  "
                f"sent {p.sent}/{p.selected}  {text[:40]}"
            )
        return 0
    if args.action in ("status", "cancel"):
        if args.action == "cancel" and not broadcast.cancel(args.broadcast_id):
            sys.stderr.write(f"genbot broadcast: {args.broadcast_id} is not a draft or sending\n")
        lines = _broadcast_lines(args.broadcast_id)
        if not lines:
            sys.stderr.write(f"genbot broadcast: no broadcast {args.broadcast_id}\n")
            return 1
        for line in lines:
            _out(line)
        return 0
    # send
    if not args.yes and not sys.stdin.isatty():
        sys.stderr.write("genbot broadcast send: no terminal to confirm on; add --yes to send\n")
        return 1
    try:
        button = broadcast.parse_button(args.button) if args.button else None
        segment = broadcast.Segment(
            language=args.language,
            paying=True if args.paying else (False if args.never_paid else None),
            active_days=args.active_days,
        )
        content = broadcast.Content(text=args.text.strip(), photo=args.photo, button=button)
        broadcast.check(content)
    except (broadcast.BroadcastError, ValueError) as exc:
        sys.stderr.write(f"genbot broadcast send: {exc}\n")
        return 1
    if not args.yes:
        for language in (segment.language,) if segment.language else ("ru", "en"):
            method = broadcast.render(content, 0, language)
            body = getattr(method, "caption", None) or getattr(method, "text", "")
            _out(f"--- preview ({language}) ---")
            if content.photo:
                _out(f"[photo: {content.photo}]")
            _out(str(body))
            if button is not None:
                _out(f"[button: {button.text} -> {button.url}]")
        _out("---")
        _out(f"to: {segment.describe()} (never users who blocked the bot; skips those who turned offers off)")
        if not _confirm("Send it? [y/N] "):
            _out("not sent")
            return 1
    item = broadcast.create(
        settings,
        content.text,
        photo=content.photo,
        button=button,
        segment=segment,
        created_by=f"cli:{os.environ.get('USER') or 'operator'}",
    )
    broadcast.start(settings, item.broadcast_id)
    _out(f"broadcast {item.broadcast_id} started: genbot broadcast status {item.broadcast_id}")
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    """getWebhookInfo / setWebhook / deleteWebhook with the deployed settings (BOT_TOKEN and
    WEBHOOK_SECRET from the secret, the allowed updates the bot handles). ``cdk deploy`` sets the
    webhook itself; this is for checking it and for rollbacks and incidents."""
    import asyncio

    from aiogram.exceptions import TelegramAPIError

    from genbot.config import get_settings
    from genbot.resources import ALLOWED_UPDATES
    from genbot.telegram.client import make_bot

    settings = get_settings()
    if not settings.bot_token:
        sys.stderr.write("genbot webhook: BOT_TOKEN is not set\n")
        return 1

    async def run() -> int:
        bot = make_bot(settings)
        try:
            if args.action == "set":
                if not settings.webhook_secret:
                    sys.stderr.write(
                        "genbot webhook set: WEBHOOK_SECRET is not set: refusing an open webhook\n"
                    )
                    return 1
                await bot.set_webhook(
                    url=args.url,
                    secret_token=settings.webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    drop_pending_updates=args.drop_pending,
                )
                _out(f"webhook set to {args.url}")
            elif args.action == "delete":
                await bot.delete_webhook(drop_pending_updates=args.drop_pending)
                _out("webhook deleted")
            info = await bot.get_webhook_info()
        except TelegramAPIError as exc:
            sys.stderr.write(f"genbot webhook {args.action}: Telegram refused: {exc.message}\n")
            return 1
        finally:
            await bot.session.close()
        _out(f"url:                  {info.url or '(none)'}")
        _out(f"pending updates:      {info.pending_update_count}")
        allowed = ", ".join(info.allowed_updates or []) or "(Telegram's default)"
        _out(f"allowed updates:      {allowed}")
        _out(f"max connections:      {info.max_connections or '-'}")
        if info.last_error_date:
            _out(f"last error:           {info.last_error_date.isoformat()} {info.last_error_message or ''}")
        expected = set(ALLOWED_UPDATES)
        if info.url and info.allowed_updates is not None and set(info.allowed_updates) != expected:
            _out(f"warning: allowed updates differ from the bot's: {', '.join(sorted(expected))}")
        return 0

    return asyncio.run(run())


def _release_lines(functions: list[releases.Function]) -> list[str]:
    lines = []
    for fn in functions:
        shown = [f"{v.number}{'*' if v.number == fn.live else ''} {v.release}" for v in fn.versions[-5:]]
        lines.append(f"{fn.name:<14} {fn.function_name}: {', '.join(shown) or 'no versions'}")
    return lines


def cmd_release(args: argparse.Namespace) -> int:
    import boto3

    client = boto3.client("lambda")
    try:
        functions = releases.stack_functions(client, args.stack)
        if args.action == "list":
            known = releases.releases(functions)
            _out(f"releases kept (oldest first): {', '.join(known) or 'none'}")
            _out("versions (newest 5; * = live):")
            for line in _release_lines(functions):
                _out(f"  {line}")
            return 0
        if args.action == "rollback":
            moves = releases.plan_rollback(functions, args.to)
            if not moves:
                _out("every live alias already runs that release")
                return 0
            for move in moves:
                _out(move.describe())
            if not args.yes and not _confirm("move these aliases? [y/N] "):
                _out("nothing changed")
                return 1
            releases.apply(client, moves)
            _out(f"rolled back {len(moves)} function(s)")
            return 0
        doomed = releases.plan_prune(functions, args.keep)
        for fn, version in doomed:
            _out(f"delete {fn.name} version {version.number} ({version.release})")
        if not doomed:
            _out("nothing to delete")
            return 0
        if not args.yes and not _confirm(f"delete these {len(doomed)} versions? [y/N] "):
            _out("nothing changed")
            return 1
        releases.prune(client, doomed)
        _out(f"deleted {len(doomed)} version(s)")
        return 0
    except releases.ReleaseError as exc:
        sys.stderr.write(f"genbot release {args.action}: {exc}\n")
        return 2


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="genbot", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("audit", help="check every balance against its ledger").set_defaults(func=cmd_audit)
    p = sub.add_parser("state", help="dump users and jobs")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_state)
    p = sub.add_parser("promo", help="create, disable or show a promo code")
    actions = p.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new code: CODE --credits N --uses M [--expires DATE]")
    create.add_argument("code", help="3 to 32 characters A-Z, 0-9, _ or - (stored upper-case)")
    create.add_argument("--credits", type=int, required=True, help="credits each use gives")
    create.add_argument("--uses", type=int, required=True, help="how many users may redeem it")
    create.add_argument(
        "--expires", type=expiry, help="last day it works (YYYY-MM-DD, operator's time zone); none: never"
    )
    actions.add_parser("disable", help="stop a code (redemptions made stay)").add_argument("code")
    actions.add_parser("show", help="a code's credits, uses and expiry").add_argument("code")
    p.set_defaults(func=cmd_promo)
    p = sub.add_parser("refund", help="refund a payment and take its credits back (once)")
    p.add_argument("payment_id", help="the payment's id: stars#<telegram_payment_charge_id> or yk#<id>")
    p.add_argument("--reason", default="", help="why (logged with the refund)")
    p.set_defaults(func=cmd_refund)
    p = sub.add_parser("broadcast", help="a message to every user or a segment, at Telegram's rate")
    actions = p.add_subparsers(dest="action", required=True)
    send = actions.add_parser("send", help="preview, confirm and send (the text is Telegram HTML)")
    send.add_argument("--text", required=True, help="the message (HTML: <b>, <i>, <a href=...>...)")
    send.add_argument(
        "--photo", help="a photo: a Telegram file_id or an https:// URL (then the text is its caption)"
    )
    send.add_argument("--button", help='one URL button: "Label|https://..."')
    send.add_argument("--language", choices=["ru", "en"], help="only users with this language")
    paid = send.add_mutually_exclusive_group()
    paid.add_argument("--paying", action="store_true", help="only users who have paid")
    paid.add_argument("--never-paid", action="store_true", help="only users who never paid")
    send.add_argument("--active-days", type=int, metavar="N", help="only users seen in the last N days")
    send.add_argument("--yes", action="store_true", help="send without the preview and question")
    actions.add_parser("status", help="counts, status, times").add_argument("broadcast_id")
    actions.add_parser("cancel", help="stop a draft or a broadcast on its way").add_argument("broadcast_id")
    listing = actions.add_parser("list", help="the newest broadcasts")
    listing.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_broadcast)
    p = sub.add_parser("webhook", help="Telegram's webhook: info, set, delete")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("info", help="where Telegram sends updates, how many wait, the last error")
    setting = actions.add_parser("set", help="point Telegram at URL with the secret and allowed updates")
    setting.add_argument("--url", required=True, help="the stack's TelegramWebhookUrl output")
    for action in (setting, actions.add_parser("delete", help="stop sending updates to any URL")):
        action.add_argument("--drop-pending", action="store_true", help="drop the updates waiting")
    p.set_defaults(func=cmd_webhook)
    p = sub.add_parser("release", help="what is deployed: list, rollback, prune")
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the releases kept and each function's versions")
    back = actions.add_parser("rollback", help="point every live alias at the previous release")
    back.add_argument("--to", metavar="RELEASE", help="this release instead of the previous one")
    pruning = actions.add_parser("prune", help="delete the versions of all but the newest releases")
    pruning.add_argument("--keep", type=int, default=2, help="releases to keep (default 2: live and one)")
    for action in (back, pruning):
        action.add_argument("--yes", action="store_true", help="don't ask")
    for action in (listing, back, pruning):
        action.add_argument("--stack", default="GenbotStack", help="the CloudFormation stack's name")
    p.set_defaults(func=cmd_release)
    for plugin in entry_points(group=PLUGIN_GROUP):
        plugin.load()(sub)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:
        from pynamodb.exceptions import PynamoDBException

        if not isinstance(exc, PynamoDBException):
            raise
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS (no AWS_ENDPOINT_URL set)")
        sys.stderr.write(
            f"genbot {args.command}: DynamoDB at {endpoint} answered: {exc.cause or exc}\n"
            "Is the local stack running (./scripts/dev), and is its environment loaded "
            "(set -a; . .local/env; set +a)?\n"
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
