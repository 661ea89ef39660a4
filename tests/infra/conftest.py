"""Synthesize the CDK app once per session and share its template.

The layer is built without its dependencies here (``bundle=false``): these tests check the
wiring, not the wheels; ``test_bundling.py`` runs the real thing once, marked ``infra``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.infra.cfn import SCHEDULE_FUNCTION, Synth, synth

# jsii prints a banner on every start under an end-of-life Node unless the variable lists that
# major version (a comma-separated list: "1" silences nothing).
_SILENCE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
os.environ[_SILENCE] = ",".join(v for v in (os.environ.get(_SILENCE, ""), "18", "20") if v)


@pytest.fixture(scope="session")
def app_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app exactly as the specs define it, with default settings."""
    return synth(outdir=tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def variant_synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    """The app with every optional feature on: a schedule, an alarm email, extra env, a Bot API URL."""
    from genbot.resources import ScheduleSpec
    from infra.specs import AppSpecs

    base = AppSpecs.load()
    schedule = ScheduleSpec(
        name="offer_tick",
        function=SCHEDULE_FUNCTION,
        expression="cron(0/15 * * * ? *)",
        timezone="Europe/Moscow",
        input={"task": "offers", "dry_run": False},
    )
    specs = replace(base, schedules={**base.schedules, schedule.name: schedule})
    yield synth(
        context={
            "alarmEmail": "ops@example.com",
            "telegramApiUrl": "https://botapi.example.com",
            "functionEnv": '{"ADMIN_IDS": "1,2"}',
            "webhookVersion": "7",
        },
        specs=specs,
        outdir=tmp_path_factory.mktemp("cdk-variant"),
    )
