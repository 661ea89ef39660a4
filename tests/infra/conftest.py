"""Fixtures for the infra tests: the synthesized app (once per session), and a variant of it.

The layer is built without its dependencies here (``bundle=false``): these tests check the
wiring, not the wheels; ``test_bundling.py`` runs the real thing once, marked ``infra``.

Tests read the templates with ``aws_cdk.assertions`` (``Template``, ``Match``, ``Capture``) and
take logical ids from the construct tree (``logical_id(stack.tables.tables["users"])``), so they
say which resource they mean without depending on CDK's generated names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aws_cdk.assertions import Template
    from constructs import IConstruct

    from genbot.resources import ScheduleSpec
    from infra.specs import AppSpecs
    from infra.stack import GenbotStack

# jsii prints a banner on every start under an end-of-life Node unless the variable lists that
# major version (a comma-separated list: "1" silences nothing).
_SILENCE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
os.environ[_SILENCE] = ",".join(v for v in (os.environ.get(_SILENCE, ""), "18", "20") if v)


def _synth(
    outdir: Path, site: Path, context: dict[str, Any] | None = None, specs: AppSpecs | None = None
) -> GenbotStack:
    import aws_cdk as cdk

    from infra.app import cdk_json_context
    from infra.stack import GenbotStack

    app = cdk.App(context={**cdk_json_context(), "bundle": "false", **(context or {})}, outdir=str(outdir))
    return GenbotStack(app, "GenbotStack", specs=specs, site_dir=site)


def make_site(directory: Path, *, assets: bool = False) -> Path:
    """A stand-in for ``site/``: an index page, a module and a stale ``config.json`` (which the
    deployment must leave out); with ``assets``, a content-hashed file under ``assets/``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.html").write_text('<!doctype html><script type="module" src="app.js"></script>')
    (directory / "app.js").write_text("export {};\n")
    (directory / "config.json").write_text('{"api_url": "http://localhost:8000/"}')
    (directory / "i18n").mkdir(exist_ok=True)
    (directory / "i18n" / "config.json").write_text("{}")  # only the top one is the deploy's
    if assets:
        (directory / "assets").mkdir(exist_ok=True)
        (directory / "assets" / "chart.3f9a1c2b.js").write_text("export {};\n")
    return directory


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root directory."""
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def logical_id() -> Callable[[IConstruct], str]:
    """The logical id of an L2 construct's main resource (or of an L1 itself), in its own stack."""
    from aws_cdk import CfnElement, Stack

    def of(construct: IConstruct) -> str:
        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        assert isinstance(element, CfnElement), f"{construct.node.path} has no CloudFormation resource"
        return str(Stack.of(element).resolve(element.logical_id))

    return of


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site the synthesized apps deploy: a small stand-in, so these tests don't follow
    ``site/``'s contents (``app.py``'s own synth, marked ``infra``, deploys the real one)."""
    return make_site(tmp_path_factory.mktemp("site"))


# --- the app exactly as the specs define it, with default settings ---------------------------


@pytest.fixture(scope="session")
def app_stack(tmp_path_factory: pytest.TempPathFactory, site_dir: Path) -> GenbotStack:
    return _synth(tmp_path_factory.mktemp("cdk-default"), site_dir)


@pytest.fixture(scope="session")
def template(app_stack: GenbotStack) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_stack(app_stack)


# --- the app with every optional feature on --------------------------------------------------


@pytest.fixture(scope="session")
def extra_schedule() -> ScheduleSpec:
    """A schedule the variant adds to the specs (no CDK change): the SnapStart webhook, via its alias."""
    from genbot.resources import ScheduleSpec

    return ScheduleSpec(
        name="offer_tick",
        function="webhook",
        expression="cron(0/15 * * * ? *)",
        timezone="Europe/Moscow",
        input={"task": "offers", "dry_run": False},
    )


@pytest.fixture(scope="session")
def variant_context() -> dict[str, str]:
    """``-c`` values for the variant: an alarm email, a Bot API URL, extra env (with a time zone and
    a reminder hour the schedules follow), a webhook version, the bot's username, a menu button
    text and the cabinet routes' throttling (its site also has content-hashed ``assets/``)."""
    return {
        "alarmEmail": "ops@example.com",
        "telegramApiUrl": "https://botapi.example.com",
        "functionEnv": json.dumps(
            {"ADMIN_IDS": "1,2", "TIMEZONE": "Asia/Yekaterinburg", "BONUS_REMINDER_HOUR": "10"}
        ),
        "webhookVersion": "7",
        "botUsername": "@genbot_test_bot",
        "menuButtonText": "Кабинет",
        "cabinetRateLimit": "30",
        "cabinetBurstLimit": "60",
    }


@pytest.fixture(scope="session")
def variant_stack(
    tmp_path_factory: pytest.TempPathFactory,
    extra_schedule: ScheduleSpec,
    variant_context: dict[str, str],
) -> GenbotStack:
    from infra.specs import AppSpecs

    base = AppSpecs.load()
    specs = replace(base, schedules={**base.schedules, extra_schedule.name: extra_schedule})
    site = make_site(tmp_path_factory.mktemp("site-with-assets"), assets=True)
    return _synth(tmp_path_factory.mktemp("cdk-variant"), site, context=variant_context, specs=specs)


@pytest.fixture(scope="session")
def variant_template(variant_stack: GenbotStack) -> Template:
    from aws_cdk.assertions import Template

    return Template.from_stack(variant_stack)
