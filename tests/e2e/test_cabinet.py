"""The cabinet (Telegram Mini App, ``site/``) in real Chromium against the local stack.

The real ``LocalStack`` runs in this process: its front door serves ``site/`` at ``/app/`` and
the ``cabinet_api`` function behind ``/cabinet/*``; the Mini App opens the way Telegram opens it,
with launch parameters in the URL fragment and ``initData`` signed with the bot's token for a
simulated user (``genbot_local.botapi.webchat.webapp_launch_url``). ``window.Telegram.WebApp``
is the local stand-in (``genbot_local/webapp_stub.js``): its ``openInvoice`` pays through the
Bot API stand-in and the bot's own payment path. Nothing here mocks the API.

Screenshots of the main screens at phone (390x844) and desktop (1280x800) sizes go to
``tests/e2e/artifacts/cabinet/`` (git-ignored; docs/local-stack.md).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genbot.ledger import Posting, apply
from genbot.ledger.audit import audit
from genbot.payments import promo
from genbot.store.models import Job, User
from genbot_local.botapi.webchat import THEMES
from genbot_local.simulate import eventually
from genbot_local.stack import LocalStack
from tests.e2e.cabinet_people import DESKTOP, PHONE, WAIT, Person, open_cabinet

pytestmark = pytest.mark.e2e


def jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buffer, "JPEG")
    return buffer.getvalue()


def make_a_picture_and_a_video(person: Person) -> None:
    """Through the bot's menus, as a person would: a picture from text, then an animated photo."""
    person.say("🎨 Создать")
    person.press("Картинка по описанию")
    person.press("Стандарт")
    person.say("a red fox in the snow, watercolor")
    person.press("Запустить")
    person.wait_sent("sendPhoto")
    person.send_photo(jpeg("orange"), caption="waves roll in")
    person.press("Оживить фото")
    person.press("Стандарт")
    person.press("Запустить")
    person.wait_sent("sendVideo")
    eventually(
        lambda: all(j.delivered for j in Job.scan(consistent_read=True) if int(j.user_id) == person.user_id),
        what="both jobs delivered",
    )


def opened_links(page: Any) -> list[str]:
    """The t.me links the page asked "Telegram" to open (the stub records them)."""
    calls = page.evaluate("Telegram.WebApp.__calls")
    return [c["eventData"]["path_full"] for c in calls if c["eventType"] == "web_app_open_tg_link"]


def test_balance_ledger_pages_and_the_gallery_with_a_playing_video(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    person = Person(stack, 616161, "Ира")
    person.say("/start")
    apply(Posting(person.user_id, "grant#cabinet-e2e", 27, "grant"))
    make_a_picture_and_a_video(person)
    for day in range(24):  # enough history for a second page of the ledger
        apply(Posting(person.user_id, f"grant#cabinet-{day:02d}", 1, "grant"))
    balance = int(User.get(person.user_id).balance)
    assert balance == 30 - 1 - 10 + 24

    page = open_cabinet(chromium, person.launch_url(), PHONE)
    expect(page.locator("#balance")).to_have_attribute("data-balance", str(balance))
    expect(page.locator("#balance")).to_contain_text("43 кредита")
    expect(page.locator(".pack").first).to_be_visible()
    page.screenshot(path=str(shots / "phone-home.png"), full_page=True)

    page.click("#tab-history")
    rows = page.locator("#ledger li")
    expect(rows).to_have_count(20)
    expect(rows.first.locator(".ledger-label")).not_to_be_empty()
    page.screenshot(path=str(shots / "phone-history.png"))
    page.click("#ledger-more")
    entries = 1 + 1 + 2 + 24  # welcome bonus, grant, two debits, 24 grants
    expect(rows).to_have_count(entries)
    expect(page.locator("#ledger-more")).to_be_hidden()
    op_ids = rows.evaluate_all("rows => rows.map(r => r.dataset.op)")
    assert len(set(op_ids)) == entries, "no entry twice across pages"

    page.click("#tab-gallery")
    tiles = page.locator("#gallery .tile")
    expect(tiles).to_have_count(2)
    image_tile = page.locator('#gallery .tile[data-kind="image"]')
    expect(image_tile.locator("img")).to_be_visible()
    eventually(lambda: image_tile.locator("img").evaluate("img => img.complete && img.naturalWidth > 0"))
    page.screenshot(path=str(shots / "phone-gallery.png"))

    image_tile.click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(viewer).to_contain_text("a red fox in the snow, watercolor")
    eventually(lambda: page.locator("#viewer-media").evaluate("img => img.naturalWidth") == 512)
    page.screenshot(path=str(shots / "phone-viewer-image.png"))
    page.click("#again")
    opened = eventually(lambda: opened_links(page), what="the bot's link opened")
    assert opened[-1].startswith(f"/{stack.bot['username']}?start=again_")
    page.click(".viewer-close")
    expect(viewer).to_be_hidden()

    page.locator('#gallery .tile[data-kind="video"]').click()
    video = page.locator("#viewer-media")
    expect(video).to_have_js_property("tagName", "VIDEO")
    eventually(
        lambda: video.evaluate(
            "v => v.readyState >= 2 && !v.paused && v.currentTime > 0 && !v.error && v.videoWidth === 128"
        ),
        what="the video playing",
    )
    page.screenshot(path=str(shots / "phone-viewer-video.png"))
    assert page.problems == []

    desktop = open_cabinet(chromium, person.launch_url(), DESKTOP)
    expect(desktop.locator("#balance")).to_have_attribute("data-balance", str(balance))
    expect(desktop.locator(".pack").first).to_be_visible()
    desktop.screenshot(path=str(shots / "desktop-home.png"))
    desktop.click("#tab-gallery")
    expect(desktop.locator("#gallery .tile")).to_have_count(2)
    eventually(lambda: desktop.locator("#gallery img").evaluate("img => img.naturalWidth > 0"))
    desktop.screenshot(path=str(shots / "desktop-gallery.png"))
    desktop.click("#tab-history")
    expect(desktop.locator("#ledger li")).to_have_count(20)
    desktop.screenshot(path=str(shots / "desktop-history.png"))
    assert desktop.problems == []


def test_a_promo_code_and_a_stars_purchase_update_the_balance(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    person = Person(stack, 626262, "Пётр")
    person.say("/start")
    promo.create("SPRING25", credits=25, max_uses=10)

    page = open_cabinet(chromium, person.launch_url(), PHONE)
    expect(page.locator("#balance")).to_have_attribute("data-balance", "3")

    page.fill("#promo-code", "spring25")
    page.click("#promo-form button[type=submit]")
    expect(page.locator("#promo-note")).to_contain_text("+25 кредитов")
    expect(page.locator("#balance")).to_have_attribute("data-balance", "28")
    page.fill("#promo-code", "SPRING25")
    page.click("#promo-form button[type=submit]")
    expect(page.locator("#promo-note")).to_have_class("form-note bad")
    expect(page.locator("#promo-note")).not_to_be_empty()
    page.screenshot(path=str(shots / "phone-promo.png"), full_page=True)

    pack = page.locator('.pack button[data-method="stars"]').first
    product = pack.get_attribute("data-product")
    pack.click()
    expect(page.locator("#toast")).to_contain_text("Оплат")
    credited = 28 + int(eventually(lambda: _pack_credits(stack, product), what="the pack"))
    expect(page.locator("#balance")).to_have_attribute("data-balance", str(credited))
    page.screenshot(path=str(shots / "phone-paid.png"), full_page=True)
    assert int(User.get(person.user_id).balance) == credited
    assert stack.standin.calls_for("createInvoiceLink"), "the cabinet asked for an invoice link"
    assert audit() == []

    page.click("#tab-history")
    expect(page.locator("#ledger li").first.locator(".delta")).to_contain_text(f"+{credited - 28}")
    expect(page.locator("#ledger li", has_text="SPRING25")).to_have_count(1)

    # Rubles: YooKassa's confirmation page opens (a receipt contact is needed first: 54-FZ)
    page.click("#tab-home")
    page.locator('.pack button[data-method="rubles"]').first.click()
    expect(page.locator("#toast")).to_contain_text("/email")
    person.say("/email buyer@example.com")
    page.locator('.pack button[data-method="rubles"]').first.click()
    links = eventually(lambda: _opened(page, "web_app_open_link"), what="the confirmation page opened")
    assert stack.yookassa is not None and links[-1]["url"].startswith(
        stack.yookassa.base_url.removesuffix("/v3")
    )
    assert "/checkout/" in links[-1]["url"]
    assert page.problems == []


def _opened(page: Any, event_type: str) -> list[dict[str, Any]]:
    calls = page.evaluate("Telegram.WebApp.__calls")
    return [c["eventData"] for c in calls if c["eventType"] == event_type]


def _pack_credits(stack: LocalStack, product: str | None) -> int:
    from genbot.config import get_settings
    from genbot.payments.products import products

    return next(p.credits for p in products(get_settings()) if p.product_id == product)


def test_theme_language_and_notices_follow_telegram_and_the_settings(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    person = Person(stack, 636363, "Ann", language="en")
    person.say("/start")
    person.say("/start")  # registered; the bot asked nothing more

    page = open_cabinet(chromium, person.launch_url("light"), PHONE)
    expect(page.locator("#tab-home")).to_have_text("Balance")
    body = page.locator("body")
    expect(body).to_have_css("background-color", "rgb(244, 244, 245)")
    expect(page.locator("html")).to_have_attribute("data-scheme", "light")

    expect(page.locator(".pack").first).to_be_visible()
    page.evaluate(
        "params => window.postMessage(JSON.stringify({eventType: 'theme_changed', "
        "eventData: {theme_params: params}}), '*')",
        THEMES["dark"],
    )
    expect(page.locator("html")).to_have_attribute("data-scheme", "dark")
    expect(body).to_have_css("background-color", "rgb(24, 24, 24)")
    expect(body).to_have_css("color", "rgb(255, 255, 255)")
    page.screenshot(path=str(shots / "phone-home-dark.png"), full_page=True)

    page.click("#tab-settings")
    page.locator('label:has(input[name="language"][value="ru"])').click()
    expect(page.locator("#tab-home")).to_have_text("Баланс")
    eventually(lambda: User.get(person.user_id).language == "ru", what="the language saved")
    page.locator('label.switch-row:has(input[name="notice-offers"])').click()
    eventually(lambda: "offers" in set(User.get(person.user_id).muted or set()), what="offers muted")
    page.locator('label:has(input[name="chat-language"][value="en"])').click()
    eventually(lambda: User.get(person.user_id).chat_language == "en", what="the assistant's language")
    page.screenshot(path=str(shots / "phone-settings-dark.png"), full_page=True)

    page.reload()  # what was saved is what the cabinet shows next time (the user's stored language)
    expect(page.locator("#tab-home")).to_have_text("Баланс")
    page.click("#tab-settings")
    expect(page.locator('input[name="notice-offers"]')).not_to_be_checked()
    expect(page.locator('input[name="notice-bonus"]')).to_be_checked()
    expect(page.locator('input[name="chat-language"][value="en"]')).to_be_checked()

    page.click("#tab-friends")
    expect(page.locator("#ref-link")).to_have_value(
        f"https://t.me/{stack.bot['username']}?start=ref_{person.user_id}"
    )
    page.click("#ref-share")
    shared = eventually(lambda: opened_links(page), what="the share link opened")
    assert shared[-1].startswith("/share/url?url=https%3A%2F%2Ft.me%2F")
    page.screenshot(path=str(shots / "phone-friends-dark.png"), full_page=True)

    desktop = open_cabinet(chromium, person.launch_url("dark"), DESKTOP)
    expect(desktop.locator("html")).to_have_attribute("data-scheme", "dark")
    desktop.click("#tab-settings")
    expect(desktop.locator("#tab-settings")).to_have_text("Настройки")
    desktop.screenshot(path=str(shots / "desktop-settings-dark.png"))
    assert page.problems == [] and desktop.problems == []


def test_refusals_are_shown_not_crashed(stack: LocalStack, chromium: Any) -> None:
    from playwright.sync_api import expect

    stranger = Person(stack, 646464, "Nobody", language="en")  # never pressed Start
    page = open_cabinet(chromium, stranger.launch_url(), PHONE)
    expect(page.locator(".state.error")).to_contain_text("Start the bot first")
    expect(page.locator(".state.error button")).to_have_text("Open the bot")

    person = Person(stack, 656565, "Old", language="en")
    person.say("/start")
    stale = open_cabinet(chromium, person.launch_url(auth_date=int(time.time()) - 3 * 86400), PHONE)
    expect(stale.locator(".state.error")).to_contain_text("Open the cabinet from the bot")
    plain = open_cabinet(chromium, str(stack.cabinet_url), PHONE)  # no launch parameters at all
    expect(plain.locator(".state.error")).to_contain_text("Откройте кабинет из бота")


def test_the_web_chats_menu_button_opens_the_cabinet_for_the_chats_user(
    stack: LocalStack, chromium: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    page = chromium.new_page(viewport=DESKTOP)
    page.set_default_timeout(WAIT * 1000)
    page.goto(str(stack.chat_url))
    page.fill("#new-user-name", "Вера")
    page.select_option("#new-user-lang", "ru")
    page.click("#new-user button[type=submit]")
    page.fill("#text", "/start")
    page.click("#send")
    expect(page.locator("#reply-keyboard button").first).to_be_visible()

    page.click("#menu-button")
    frame = page.frame_locator("#webapp-frame")
    expect(frame.locator("#balance")).to_have_attribute("data-balance", "3")
    expect(frame.locator("#tab-home")).to_have_text("Баланс")
    page.screenshot(path=str(shots / "desktop-webchat-panel.png"))

    scheme = frame.locator("html").get_attribute("data-scheme")
    page.click("#webapp-theme")  # the chat switches theme: the Mini App follows (themeChanged)
    expect(frame.locator("html")).to_have_attribute("data-scheme", "dark" if scheme == "light" else "light")
    page.screenshot(path=str(shots / "desktop-webchat-panel-theme.png"))

    frame.locator("#tab-gallery").click()
    expect(frame.locator(".state.empty")).to_be_visible()
    page.click("#webapp-close")
    expect(page.locator("#webapp-panel")).to_be_hidden()


def test_the_front_door_serves_only_the_site_with_its_config_and_csp() -> None:
    """``StaticSite`` as the stack mounts it: the site's files, the generated config, no escape."""
    import json

    from genbot_local.apigw import LOCAL_CSP, StaticSite
    from genbot_local.invoke import ROOT
    from genbot_local.stack import WEBAPP_STUB

    config = {"api_url": "http://127.0.0.1:8081/", "bot_username": "b", "telegram_js": "/app/webapp_stub.js"}
    site = StaticSite(
        root=ROOT / "site",
        generated={"config.json": json.dumps(config).encode()},
        extra={WEBAPP_STUB.name: WEBAPP_STUB},
    )
    assert site.serve("GET", "/app").status == 301
    index = site.serve("GET", "/app/")
    headers = dict(index.headers)
    assert index.status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == LOCAL_CSP and "script-src 'self';" in LOCAL_CSP
    assert b"<script>" not in index.body and b"onclick=" not in index.body, "no inline script (CSP)"
    assert json.loads(site.serve("GET", "/app/config.json").body) == config
    stub = site.serve("GET", "/app/webapp_stub.js")
    assert stub.status == 200 and dict(stub.headers)["Content-Type"].startswith("text/javascript")
    assert dict(site.serve("GET", "/app/js/app.js").headers)["Content-Type"].startswith("text/javascript")
    for escape in ("/app/../pyproject.toml", "/app/%2e%2e/pyproject.toml", "/app/js/../../README.md"):
        assert site.serve("GET", escape).status == 404, escape
    assert site.serve("GET", "/app/nothing.js").status == 404
    assert site.serve("POST", "/app/").status == 405
    assert not site.handles("/cabinet/me") and not site.handles("/application")
