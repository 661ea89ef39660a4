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
    ("name", "value"), [("PACK_S", "20:100"), ("FREE_CREDITS", "many"), ("ADMIN_IDS", "x")]
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
