"""The cabinet's operator section (``site/js/admin.js``) in real Chromium against the local stack.

As ``test_cabinet.py``: the real ``LocalStack`` in this process (the Bot API stand-in, moto,
every function), the Mini App opened with signed launch parameters, nothing mocked. The
operator is in ``ADMIN_IDS`` (set before the stack starts, so its functions read it); people
use the bot through the stand-in and their own cabinet (a Stars purchase pays through the
stand-in's ``openInvoice``).

Screenshots of the admin screens at phone (390x844) and desktop (1280x800) sizes go to
``tests/e2e/artifacts/cabinet/admin-*.png`` (git-ignored; docs/local-stack.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genbot.ledger.audit import audit
from genbot.store.models import AdminAction, Job, LedgerEntry, Payment, PromoCode, SettingItem
from genbot_local.simulate import eventually
from genbot_local.stack import LocalStack
from tests.e2e.cabinet_people import DESKTOP, PHONE, Person, open_cabinet

pytestmark = pytest.mark.e2e
OPERATOR = 700700


@pytest.fixture(autouse=True)
def operators(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ADMIN_IDS`` as a deploy sets it, in place before the stack (and its functions) start."""
    monkeypatch.setenv("ADMIN_IDS", str(OPERATOR))


def open_admin(chromium: Any, operator: Person, viewport: dict[str, int], section: str = "stats") -> Any:
    from playwright.sync_api import expect

    page = open_cabinet(chromium, operator.launch_url(), viewport)
    page.click("#tab-admin")
    expect(page.locator("#admin-nav")).to_be_visible()
    if section != "stats":
        page.click(f"#admin-{section}")
    expect(page.locator("#admin-body")).to_have_attribute("data-section", section)
    return page


def find_user(page: Any, user_id: int) -> None:
    from playwright.sync_api import expect

    page.click("#admin-users")
    page.fill("#user-id", str(user_id))
    page.click("#user-form button[type=submit]")
    expect(page.locator("#user-facts")).to_have_attribute("data-user", str(user_id))


WIDER = """() => [...document.querySelectorAll('#main *')]
  .filter(n => n.getBoundingClientRect().right > innerWidth + 1)
  .map(n => `${n.tagName}#${n.id}.${n.className} ${Math.round(n.getBoundingClientRect().right)}`)"""


def fits(page: Any) -> None:
    """Nothing sticks out sideways (a phone scrolls only up and down)."""
    wider = page.evaluate(WIDER)
    assert wider == [], "\n".join(wider)


def logged(action: str) -> list[AdminAction]:
    return [a for a in AdminAction.scan(consistent_read=True) if a.action == action]


def received(stack: LocalStack, person: Person, marker: str) -> list[Any]:
    """The messages sent to ``person`` holding ``marker``."""
    return [
        c
        for c in stack.standin.calls_for("sendMessage")
        if str(c.params.get("chat_id")) == str(person.user_id) and marker in str(c.params.get("text"))
    ]


def operator_and_user(stack: LocalStack, language: str = "ru") -> tuple[Person, Person]:
    operator = Person(stack, OPERATOR, "Оператор", language)
    operator.say("/start")
    user = Person(stack, 717171, "Лена")
    user.say("/start")
    return operator, user


def test_only_an_operator_sees_the_admin_tab_and_the_hash_opens_it(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    operator, user = operator_and_user(stack, language="en")
    page = open_cabinet(chromium, user.launch_url(), PHONE)
    expect(page.locator("#tab-home")).to_be_visible()
    expect(page.locator("#tabs .tab")).to_have_count(5)
    expect(page.locator("#tab-admin")).to_have_count(0)
    # the bot's /admin button opens CABINET_URL#admin: for anyone else, the home tab
    hashed = open_cabinet(chromium, user.launch_url().replace("#", "#admin&", 1), PHONE)
    expect(hashed.locator("#balance")).to_be_visible()
    expect(hashed.locator("#tab-admin")).to_have_count(0)

    desk = open_cabinet(chromium, operator.launch_url().replace("#", "#admin&", 1), DESKTOP)
    expect(desk.locator("#tab-admin")).to_have_attribute("aria-selected", "true")
    expect(desk.locator("#admin-body")).to_have_attribute("data-section", "stats")
    expect(desk.locator("#tab-admin")).to_have_text("Admin")
    expect(desk.locator("#kpi-users")).to_contain_text("Users")
    expect(desk.locator("#admin-nav button")).to_have_count(7)
    desk.click("#admin-audit")
    expect(desk.locator("#audit-run")).to_have_text("Run the audit")
    assert page.problems == [] and hashed.problems == [] and desk.problems == []


def test_an_operator_grants_once_blocks_and_refunds_a_stars_payment(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    operator, user = operator_and_user(stack)
    # the user buys the cheapest pack with Stars in their own cabinet
    mine = open_cabinet(chromium, user.launch_url(), PHONE)
    expect(mine.locator("#balance")).to_have_attribute("data-balance", "3")
    mine.locator('.pack button[data-method="stars"]').first.click()
    paid = eventually(
        lambda: [p for p in Payment.scan(consistent_read=True) if p.status == "succeeded"], what="the payment"
    )[0]
    bought = int(paid.credits)
    expect(mine.locator("#balance")).to_have_attribute("data-balance", str(3 + bought))

    page = open_admin(chromium, operator, PHONE, "users")
    page.fill("#user-id", "abc")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#user-note")).to_have_class("form-note bad")
    find_user(page, user.user_id)
    expect(page.locator("#user-balance")).to_have_attribute("data-balance", str(3 + bought))
    expect(page.locator("#user-facts")).to_contain_text("Лена")
    payment = page.locator(f'#user-payments li[data-payment="{paid.payment_id}"]')
    expect(payment).to_have_attribute("data-status", "succeeded")

    # a grant needs a reason; a double click grants once
    page.fill("#grant-credits", "15")
    page.click("#grant-submit")
    expect(page.locator("#grant-note")).to_have_class("form-note bad")
    page.fill("#grant-reason", "compensation for a failed video")
    page.dblclick("#grant-submit")
    balance = 3 + bought + 15
    expect(page.locator("#user-balance")).to_have_attribute("data-balance", str(balance))
    grants = page.locator("#user-ledger li", has_text="compensation for a failed video")
    expect(grants).to_have_count(1)
    expect(grants.locator(".delta")).to_have_text("+15")
    # the same form submitted twice at once (one idempotency key): still one grant
    page.fill("#grant-credits", "-5")
    page.fill("#grant-reason", "taken back: sent twice")
    key = page.locator("#grant-form").get_attribute("data-key")
    page.locator("#grant-form").evaluate("form => { form.requestSubmit(); form.requestSubmit() }")
    balance -= 5
    expect(page.locator("#user-balance")).to_have_attribute("data-balance", str(balance))
    expect(page.locator("#user-ledger li", has_text="taken back: sent twice")).to_have_count(1)
    assert page.locator("#grant-form").get_attribute("data-key") != key, "a new form, a new key"
    assert user.balance() == balance
    entries = [e for e in LedgerEntry.query(user.user_id) if str(e.op_id).startswith("grant#")]
    assert sorted(int(e.delta) for e in entries) == [-5, 15]
    assert [int(a.after["credits"]) for a in logged("grant") + logged("revoke")] in ([15, -5], [-5, 15])
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-user.png"), full_page=True)

    # block and unblock, with a reason
    page.fill("#block-reason", "spam")
    page.click("#block-submit")
    expect(page.locator("#user-facts .pill.bad")).to_be_visible()
    expect(page.locator("#block-submit")).to_have_text("Разблокировать")
    page.click("#block-submit")
    expect(page.locator("#user-facts .pill.bad")).to_have_count(0)
    assert [a.reason for a in logged("block")] == ["spam"] and len(logged("unblock")) == 1

    # the refund: a confirmation with a reason, then Telegram's refundStarPayment and the debit
    payment.locator("button.refund").click()
    expect(payment.locator(".confirm")).to_contain_text(f"{paid.amount} ⭐")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-refund-confirm.png"), full_page=True)
    payment.locator(".confirm-reason").fill("asked for the money back")
    payment.locator(".confirm-yes").click()
    expect(payment).to_have_attribute("data-status", "refunded")
    balance -= bought
    expect(page.locator("#user-balance")).to_have_attribute("data-balance", str(balance))
    expect(payment.locator("button.refund")).to_have_count(0)
    assert stack.standin.calls_for("refundStarPayment"), "Telegram was asked to refund the Stars"
    assert user.balance() == balance and audit() == []
    assert [a.reason for a in logged("refund")] == ["asked for the money back"]

    # the admin log shows every action, newest first; a target opens that user
    page.click("#admin-log")
    rows = page.locator("#admin-log li")
    expect(rows.first).to_have_attribute("data-action", "refund")
    expect(rows).to_have_count(5)  # grant, revoke, block, unblock, refund
    expect(page.locator('#admin-log li[data-action="block"]')).to_contain_text("spam")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-log.png"), full_page=True)
    page.locator('#admin-log li[data-action="unblock"] .linkish').click()
    expect(page.locator("#admin-body")).to_have_attribute("data-section", "users")
    expect(page.locator("#user-facts")).to_have_attribute("data-user", str(user.user_id))
    desk = open_admin(chromium, operator, DESKTOP, "users")
    desk.fill("#user-id", str(user.user_id))
    desk.click("#user-form button[type=submit]")
    expect(desk.locator(f'#user-payments li[data-payment="{paid.payment_id}"]')).to_have_attribute(
        "data-status", "refunded"
    )
    desk.screenshot(path=str(shots / "admin-desktop-user.png"), full_page=True)
    assert page.problems == [] and desk.problems == [] and mine.problems == []


def test_a_promo_code_made_in_the_admin_section_is_redeemed_and_prices_are_validated(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    operator, user = operator_and_user(stack)
    page = open_admin(chromium, operator, PHONE, "promo")
    expect(page.locator("#promo-admin-list .state.empty")).to_be_visible()
    page.fill("#promo-new-code", "WINTER7")
    page.fill("#promo-new-credits", "7")
    page.fill("#promo-new-uses", "2")
    page.fill("#promo-new-reason", "newsletter")
    page.click("#promo-new-submit")
    row = page.locator('#promo-admin-list li[data-code="WINTER7"]')
    expect(row).to_have_attribute("data-used", "0")
    page.fill("#promo-new-code", "WINTER7")  # the same code again: refused, shown
    page.fill("#promo-new-credits", "9")
    page.fill("#promo-new-uses", "1")
    page.click("#promo-new-submit")
    expect(page.locator("#promo-new-note")).to_have_class("form-note bad")
    expect(page.locator("#promo-new-note")).not_to_be_empty()
    assert int(PromoCode.get("WINTER7").credits) == 7

    mine = open_cabinet(chromium, user.launch_url(), PHONE)
    mine.fill("#promo-code", "winter7")
    mine.click("#promo-form button[type=submit]")
    expect(mine.locator("#balance")).to_have_attribute("data-balance", "10")

    page.click("#admin-promo")  # the list again: one use
    expect(row).to_have_attribute("data-used", "1")
    expect(row).to_contain_text("1 из 2")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-promo.png"), full_page=True)
    row.locator("button.disable").click()
    row.locator(".confirm-yes").click()
    expect(row).to_have_attribute("data-disabled", "true")
    assert PromoCode.get("WINTER7").disabled

    # prices: a valid change is stored; a bad value is refused with a message, nothing stored
    page.click("#admin-settings")
    expect(page.locator("#setting-status")).to_contain_text("по умолчанию")
    page.fill("#setting-value", '{"image/standard": 2}')
    page.fill("#setting-reason", "winter prices")
    page.click("#setting-save")
    expect(page.locator("#setting-note")).to_have_class("form-note ok")
    expect(page.locator("#setting-status")).to_contain_text("Изменено")
    assert SettingItem.get("prices", consistent_read=True).value == {"image/standard": 2}
    page.fill("#setting-value", '{"image/standard": -1, "nothing/here": 3}')
    page.click("#setting-save")
    expect(page.locator("#setting-note")).to_have_class("form-note bad")
    expect(page.locator("#setting-note")).to_contain_text("ничего не сохранено")
    page.fill("#setting-value", '{"image/standard": ')
    page.click("#setting-save")
    expect(page.locator("#setting-note")).to_contain_text("Это не JSON")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-settings-refused.png"), full_page=True)
    assert SettingItem.get("prices", consistent_read=True).value == {"image/standard": 2}
    assert len(logged("setting")) == 1

    page.locator('label:has(input[name="setting-key"][value="packs"])').click()
    expect(page.locator("#setting-status")).to_contain_text("по умолчанию")
    page.locator('label:has(input[name="setting-key"][value="prices"])').click()
    expect(page.locator("#setting-value")).to_have_value('{\n  "image/standard": 2\n}')

    desk = open_admin(chromium, operator, DESKTOP, "settings")
    expect(desk.locator("#setting-value")).to_have_value('{\n  "image/standard": 2\n}')
    desk.screenshot(path=str(shots / "admin-desktop-settings.png"))
    desk.click("#admin-promo")
    expect(desk.locator('#promo-admin-list li[data-code="WINTER7"]')).to_be_visible()
    desk.screenshot(path=str(shots / "admin-desktop-promo.png"))
    assert page.problems == [] and desk.problems == [] and mine.problems == []


def test_a_broadcast_from_draft_to_finished_then_the_log_and_the_audit(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    operator, user = operator_and_user(stack)
    others = [Person(stack, 720000 + i, f"Гость {i}") for i in range(3)]
    for person in others:
        person.say("/start")
    english = Person(stack, 730000, "Sam", language="en")
    english.say("/start")
    ru = [operator, user, *others]

    page = open_admin(chromium, operator, PHONE, "broadcasts")
    page.click("#bc-create")  # no text: said so, nothing made
    expect(page.locator("#bc-note")).to_have_class("form-note bad")
    text = "Зимние новости: <b>видео</b> в Pro <i>быстрее</i>"
    page.fill("#bc-text", text)
    page.locator('label:has(input[name="bc-language"][value="ru"])').click()
    page.click("#bc-create")
    preview = page.locator("#bc-preview")
    expect(preview.locator("b")).to_have_text("видео")
    expect(page.locator("#bc-progress")).to_have_attribute("data-status", "draft")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-broadcast-draft.png"), full_page=True)

    page.click("#bc-start")
    progress = page.locator("#bc-progress")
    expect(progress).to_have_attribute("data-status", "done")
    expect(progress.locator('[data-count="sent"] dd')).to_have_text(str(len(ru)))
    expect(progress.locator('[data-count="failed"] dd')).to_have_text("0")
    expect(page.locator("#bc-start")).to_be_hidden()
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-broadcast-done.png"), full_page=True)
    for person in ru:
        assert len(received(stack, person, "Зимние новости")) == 1, person.user_id
    assert received(stack, english, "Зимние новости") == []

    page.click("#admin-log")
    actions = page.locator("#admin-log li")
    expect(actions).to_have_count(2)
    expect(actions.nth(0)).to_have_attribute("data-action", "broadcast_start")
    expect(actions.nth(1)).to_have_attribute("data-action", "broadcast_create")

    page.click("#admin-audit")
    page.click("#audit-run")
    expect(page.locator("#audit-result [data-ok]")).to_have_attribute("data-ok", "true")
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-audit.png"), full_page=True)

    desk = open_admin(chromium, operator, DESKTOP, "broadcasts")
    desk.fill("#bc-text", "Second <b>one</b>")
    desk.click("#bc-create")
    expect(desk.locator("#bc-progress")).to_have_attribute("data-status", "draft")
    desk.screenshot(path=str(shots / "admin-desktop-broadcast.png"), full_page=True)
    desk.click("#admin-log")
    expect(desk.locator("#admin-log li")).to_have_count(3)
    desk.screenshot(path=str(shots / "admin-desktop-log.png"))
    assert page.problems == [] and desk.problems == []


def test_the_stats_show_numbers_charts_and_the_latest_failures(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    operator, user = operator_and_user(stack)
    mine = open_cabinet(chromium, user.launch_url(), PHONE)
    mine.locator('.pack button[data-method="stars"]').first.click()
    paid = eventually(
        lambda: [p for p in Payment.scan(consistent_read=True) if p.status == "succeeded"], what="the payment"
    )[0]
    user.make_a_picture("a lighthouse at dusk")
    user.make_a_picture("refuse this one, please")
    jobs = eventually(
        lambda: (
            (found := [j for j in Job.scan(consistent_read=True) if j.status in ("succeeded", "failed")])
            and len(found) == 2
            and found
        ),
        what="both pictures finished",
    )
    failed = next(j for j in jobs if j.status == "failed")

    page = open_admin(chromium, operator, PHONE)
    expect(page.locator("#kpi-stars strong")).to_have_text(f"{paid.amount} ⭐")
    expect(page.locator("#kpi-payments strong")).to_have_text("1")
    expect(page.locator("#kpi-jobs strong")).to_have_text("2")
    expect(page.locator("#kpi-new strong")).to_have_text("2")
    expect(page.locator("#chart-stars rect")).to_have_count(1)
    expect(page.locator("#chart-generations rect.tone1")).to_have_count(1)
    expect(page.locator("#chart-generations rect.tone3")).to_have_count(1)
    expect(page.locator("#stats-modes tbody")).to_contain_text("Картинка")
    row = page.locator(f'#failed-list li[data-job="{failed.job_id}"]')
    expect(row).to_contain_text(str(failed.error_code))
    fits(page)
    page.screenshot(path=str(shots / "admin-phone-stats.png"), full_page=True)
    row.locator(".linkish").click()
    expect(page.locator("#user-facts")).to_have_attribute("data-user", str(user.user_id))
    job = page.locator(f'#user-jobs li[data-job="{failed.job_id}"]')
    expect(job).to_have_attribute("data-status", "failed")

    desk = open_admin(chromium, operator, DESKTOP)
    expect(desk.locator("#kpi-stars strong")).to_have_text(f"{paid.amount} ⭐")
    expect(desk.locator("#failed-list li")).to_have_count(1)
    desk.screenshot(path=str(shots / "admin-desktop-stats.png"), full_page=True)
    dark = open_cabinet(chromium, operator.launch_url("dark"), PHONE)
    dark.click("#tab-admin")
    expect(dark.locator("#chart-stars rect")).to_have_count(1)
    fits(dark)
    dark.screenshot(path=str(shots / "admin-phone-stats-dark.png"))
    assert page.problems == [] and desk.problems == [] and mine.problems == [] and dark.problems == []
