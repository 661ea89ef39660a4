"""The ``genbot`` command: the operator's tools, plus whatever plugins add.

genbot audit       exit 0 when every user's ledger sums to their balance, 1 otherwise
genbot state       users, balances and recent jobs, as JSON
genbot promo       promo codes: create CODE --credits N --uses M [--expires DATE], disable, show
genbot refund      refund a payment (Stars or YooKassa) and take its credits back, once

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
