"""Items read per payment_poll run against pending payments, and AWS calls per settled payment.

Thousands of settled payments and a few pending ones (created through the YooKassa stand-in,
then paid there) sit in the payments table; one poll run reads the sparse ``pending`` index
only. Prints the items DynamoDB returned to the poll (``Count`` of its queries), the pending
payments, their ratio (target <= 2x), and the AWS calls the run made per settled payment.
moto and the stand-ins run in this process; figures are counts, not times.

    .venv/bin/python bench/payment_poll.py [--settled 3000] [--pending 50]
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

from _offline import use_offline_env

use_offline_env()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settled", type=int, default=3000)
    parser.add_argument("--pending", type=int, default=50)
    args = parser.parse_args()

    from botocore.client import BaseClient

    from genbot_local.aws import MotoServer, bootstrap
    from genbot_local.botapi import BotApiStandIn
    from genbot_local.simulate import BOT_TOKEN
    from genbot_local.yookassa_standin import YooKassaStandIn

    standin = BotApiStandIn(token=BOT_TOKEN, bot_username="genbot_local_bot").start()
    yk = YooKassaStandIn(shop_id="100500", secret_key="bench-secret").start()
    moto = MotoServer().start()
    os.environ.update(
        {
            "TELEGRAM_API_URL": standin.base_url,
            "BOT_TOKEN": BOT_TOKEN,
            "AWS_ENDPOINT_URL": moto.endpoint,
            "YOOKASSA_SHOP_ID": "100500",
            "YOOKASSA_SECRET_KEY": "bench-secret",
            "YOOKASSA_API_URL": yk.base_url,
        }
    )
    os.environ.update(bootstrap(prefix="genbot", endpoint=moto.endpoint))
    from genbot.config import get_settings
    from genbot.payments import poll, yookassa
    from genbot.payments.products import products
    from genbot.store.models import Payment, User, now_ms

    get_settings.cache_clear()
    settings = get_settings()
    pack = products(settings)[0]

    User(1, balance=0, language="ru").save()
    with Payment.batch_write() as batch:
        for i in range(args.settled):
            batch.save(
                Payment(
                    f"yk#settled-{i}",
                    user_id=1,
                    method="yk",
                    product=pack.product_id,
                    amount=pack.rubles * 100,
                    currency="RUB",
                    credits=pack.credits,
                    status="succeeded",
                    settled_at=now_ms(),
                )
            )
    yookassa.save_receipt_contact(1, "bench@example.com")
    for _ in range(args.pending):
        payment = yookassa.create_payment(
            settings, User.get(1), pack, return_url="https://t.me/genbot_local_bot", description="Credits"
        )
        yk.succeed(str(payment.provider_payment_id))
        payment.update(actions=[Payment.next_poll_at.set(0)])  # due now

    calls: Counter[str] = Counter()
    returned = {"items": 0}
    original = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        answer = original(self, operation, params)
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        if operation in ("Query", "Scan"):
            returned["items"] += int(answer.get("Count", 0))
        return answer

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        result = poll.handle({"task": "poll_payments"})
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]

    settled = sum(1 for p in Payment.scan() if p.status == "succeeded") - args.settled
    total = sum(calls.values())
    table = args.settled + args.pending
    print(f"payments in the table: {table} ({args.settled} settled before, {args.pending} pending)")
    print(f"poll result: {result}")
    ratio = returned["items"] / max(1, args.pending)
    print(f"items read by the poll's queries: {returned['items']} (pending {args.pending}; x{ratio:.2f})")
    print(f"scans: {calls['dynamodb:Scan']}")
    print(f"AWS calls in the run: {total}  ({dict(calls)})")
    print(f"settled in this run: {settled}; AWS calls per settled payment: {total / max(1, settled):.1f}")
    from genbot import runtime

    runtime.forget_bot()
    for server in (standin, yk, moto):
        server.stop()


if __name__ == "__main__":
    main()
