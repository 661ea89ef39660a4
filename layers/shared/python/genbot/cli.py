"""The ``genbot`` command: the operator's tools, plus whatever plugins add.

genbot audit       exit 0 when every user's ledger sums to their balance, 1 otherwise
genbot state       users, balances and recent jobs, as JSON

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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="genbot", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("audit", help="check every balance against its ledger").set_defaults(func=cmd_audit)
    p = sub.add_parser("state", help="dump users and jobs")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_state)
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
