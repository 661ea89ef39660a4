"""The local package's ``genbot`` subcommands (entry points in ``genbot.commands``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def bootstrap_command(sub: Any) -> None:
    p = sub.add_parser("bootstrap", help="create tables, queues and buckets on AWS_ENDPOINT_URL")
    p.add_argument("--prefix", default="genbot-local")
    p.add_argument("--allow-real-aws", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_bootstrap)


def dev_command(sub: Any) -> None:
    from genbot_local.stack import add_arguments  # stack's module level is stdlib only

    p = sub.add_parser("dev", help="run the bot locally (see docs/local-stack.md)")
    add_arguments(p)
    p.set_defaults(func=cmd_dev)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from genbot_local.aws import bootstrap

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint and not args.allow_real_aws:
        sys.stderr.write("AWS_ENDPOINT_URL is not set: refusing to create resources in real AWS\n")
        return 2
    for name, value in bootstrap(prefix=args.prefix, endpoint=endpoint).items():
        sys.stdout.write(f"{name}={value}\n")
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from genbot_local.stack import main

    return main(args)
