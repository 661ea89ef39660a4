"""Configuration: parsed once from the environment; a bad value fails naming the variable."""

from __future__ import annotations

import pytest

from genbot.config import ConfigError, Settings, get_settings


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_lists_and_packs_are_parsed_from_their_env_forms(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEYS", "k1, k2,,k3")
    monkeypatch.setenv("ADMIN_IDS", "1,22")
    monkeypatch.setenv("PACK_M", "70:300:599")

    settings = get_settings()

    assert settings.gemini_api_keys == ["k1", "k2", "k3"]
    assert settings.admin_ids == [1, 22] and settings.is_admin(22) and not settings.is_admin(3)
    assert settings.packs()["m"] == (70, 300, 599)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PACK_S", "20:100"),
        ("FREE_CREDITS", "many"),
        ("ADMIN_IDS", "x"),
        # a negative price would pay the user for a generation; a negative gift takes credits
        ("COST_IMAGE", "-5"),
        ("FREE_CREDITS", "-1"),
        ("REFERRAL_REWARD", "-3"),
        ("DAILY_BONUS", "-1"),
        ("MAX_USER_QUEUE", "0"),
        ("TIMEZONE", "Mars/Olympus"),  # used to break the Bonuses button at run time
        ("UPDATE_DEDUPE_TTL_SECONDS", "60"),  # shorter than Telegram's redelivery window
        ("MAX_INPUT_BYTES", "0"),
        ("KEYPOOL_QUOTA", "gemini=lots"),
    ],
)
def test_a_malformed_value_fails_with_the_variable_named(monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as failure:
        get_settings()

    assert f"{name}: " in str(failure.value)


def test_secrets_come_from_the_secret_when_the_environment_lacks_them(monkeypatch, aws) -> None:
    import json

    import boto3

    arn = boto3.client("secretsmanager").create_secret(
        Name="genbot/app", SecretString=json.dumps({"BOT_TOKEN": "1:from-secret", "WEBHOOK_SECRET": "s3cret"})
    )["ARN"]
    monkeypatch.setenv("SECRET_ID", arn)
    monkeypatch.delenv("BOT_TOKEN")
    monkeypatch.setenv("WEBHOOK_SECRET", "from-env-wins")

    settings = get_settings()

    assert settings.bot_token == "1:from-secret"
    assert settings.webhook_secret == "from-env-wins"


def test_defaults_match_the_documented_economy() -> None:
    settings = Settings()
    assert (settings.free_credits, settings.referral_reward, settings.max_user_queue) == (3, 3, 3)


def test_with_a_secret_the_settings_follow_a_rotation_within_minutes(monkeypatch) -> None:
    from genbot import config

    values = {"BOT_TOKEN": "1:old", "WEBHOOK_SECRET": "old-secret"}
    reads: list[str] = []
    monkeypatch.setenv("SECRET_ID", "arn:aws:secretsmanager:eu-central-1:1:secret:genbot/app")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    monkeypatch.setattr(config, "_secret_values", lambda secret_id: reads.append(secret_id) or dict(values))
    clock = [1000.0]
    monkeypatch.setattr(config.time, "monotonic", lambda: clock[0])

    first = get_settings()
    values["WEBHOOK_SECRET"] = "new-secret"  # rotated in Secrets Manager
    clock[0] += 60
    assert get_settings() is first and len(reads) == 1  # no read per update

    clock[0] += config.SETTINGS_MAX_AGE_SECONDS
    rotated = get_settings()
    assert rotated.webhook_secret == "new-secret" and len(reads) == 2
    clock[0] += config.SETTINGS_MAX_AGE_SECONDS + 1
    assert get_settings() is rotated  # unchanged values: the same object (nothing rebuilt)


def test_table_names_and_the_region_never_read_the_secret(monkeypatch) -> None:
    """PynamoDB reads Meta.region when a model class is defined (at import, before a SnapStart
    snapshot): that must not call Secrets Manager."""
    from genbot import config
    from genbot.store.models import Job, User

    def no_secret(secret_id: str) -> dict[str, str]:
        raise AssertionError("the secret was read")

    monkeypatch.setenv("SECRET_ID", "arn:aws:secretsmanager:eu-central-1:1:secret:genbot/app")
    monkeypatch.setenv("USERS_TABLE", "stage-users")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setattr(config, "_secret_values", no_secret)

    assert (User.Meta.table_name, User.Meta.region, Job.Meta.region) == (
        "stage-users",
        "eu-central-1",
        "eu-central-1",
    )
