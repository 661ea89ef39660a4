"""All configuration, read once from the environment.

Every external endpoint can be pointed elsewhere (``TELEGRAM_API_URL``, ``OPENAI_BASE_URL``,
``GEMINI_BASE_URL``, and ``AWS_ENDPOINT_URL`` for boto3/PynamoDB),
which is how the local stack and the tests run with no network. In AWS, secrets come from one
Secrets Manager secret (``SECRET_ID``, a JSON object keyed by the same variable names), read
lazily and cached by Powertools Parameters; locally they come straight from the environment.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from genbot.resources import DEFAULT_BONUS_REMINDER_HOUR, DEFAULT_TIMEZONE

SECRET_NAMES = (
    "BOT_TOKEN",
    "WEBHOOK_SECRET",
    "OPENAI_API_KEY",
    "GEMINI_API_KEYS",
    "YOOKASSA_SHOP_ID",
    "YOOKASSA_SECRET_KEY",
    "CHAT_API_KEY",
)


class ConfigError(RuntimeError):
    """The environment is missing or has a malformed setting; the message names it."""


def validation_problems(exc: ValidationError, root: str = "") -> str:
    """pydantic's errors as ``where: what; ...`` (``where`` joins the location, else ``root``)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or root}: {err['msg']}" for err in exc.errors())


def _parse_quotas(raw: str) -> dict[str, int]:
    raw = raw.strip()
    if not raw:
        return {}
    if raw.isdigit():
        return {"*": int(raw)}
    out: dict[str, int] = {}
    for part in raw.split(","):
        name, _, number = part.partition("=")
        if not name.strip() or not number.strip().isdigit():
            return {}
        out[name.strip()] = int(number)
    return out


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Typed view of the environment. Field names are the variable names, lower-cased."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Secrets (from the environment locally, from SECRET_ID in AWS)
    bot_token: str = ""
    webhook_secret: str = ""
    openai_api_key: str = ""
    gemini_api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    yookassa_shop_id: str = ""
    yookassa_secret_key: str = ""
    secret_id: str = ""

    # Outside world
    telegram_api_url: str = "https://api.telegram.org"
    openai_base_url: str = ""
    gemini_base_url: str = ""
    yookassa_api_url: str = "https://api.yookassa.ru/v3"

    # AWS: one region for every client (Lambda sets AWS_REGION; a laptop often only the default)
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    # AWS resources (names and URLs are set by CDK or printed by `genbot bootstrap`)
    users_table: str = "genbot-users"
    ledger_table: str = "genbot-ledger"
    jobs_table: str = "genbot-jobs"
    settings_table: str = "genbot-settings"
    idempotency_table: str = "genbot-idempotency"
    payments_table: str = "genbot-payments"
    promo_table: str = "genbot-promo"
    broadcasts_table: str = "genbot-broadcasts"
    conversations_table: str = "genbot-conversations"
    admin_log_table: str = "genbot-admin-log"
    stats_table: str = "genbot-stats"
    jobs_queue_url: str = ""
    broadcasts_queue_url: str = ""
    jobs_dlq_arn: str = ""  # records from this queue are jobs that ran out of retries
    media_bucket: str = ""

    # Product
    default_language: str = "ru"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = DEFAULT_TIMEZONE
    # Telegram retries an unanswered update for up to a day: remember ids at least that long
    update_dedupe_ttl_seconds: Annotated[int, Field(ge=24 * 3600)] = 7 * 24 * 3600
    blocked_words: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_prompt_chars: PositiveInt = 2000
    max_input_bytes: PositiveInt = 10 * 1024 * 1024
    video_poll_seconds: NonNegativeInt = 20
    video_max_polls: PositiveInt = 60
    # Provider key pool: uses per key per day, "gemini=500,openai=200" or one number for all
    keypool_quota: str = ""

    # Economy (credits); names as the original system had them. Never negative: a negative
    # price would pay the user for a generation, a negative gift would take credits away.
    free_credits: NonNegativeInt = 3
    referral_reward: NonNegativeInt = 3
    daily_bonus: NonNegativeInt = 1
    max_user_queue: PositiveInt = 3
    cost_image: NonNegativeInt = 1
    cost_image_pro: NonNegativeInt = 3
    cost_edit: NonNegativeInt = 2
    cost_edit_pro: NonNegativeInt = 4
    cost_video: NonNegativeInt = 10
    cost_video_pro: NonNegativeInt = 20
    cost_describe: NonNegativeInt = 0
    pack_s: str = "20:100:199"
    pack_m: str = "60:250:499"
    pack_l: str = "150:550:999"
    # YooKassa (rubles): 54-FZ receipt fields, how long a payment may stay pending, where the
    # payment page sends the user back (the bot's t.me link when empty)
    yookassa_vat_code: Annotated[int, Field(ge=1, le=12)] = 1
    yookassa_payment_subject: str = "service"
    yookassa_payment_mode: str = "full_payment"
    yookassa_return_url: str = ""
    payment_expire_minutes: PositiveInt = 60
    # when the referrer is rewarded: on the invited user's first payment (can't be farmed with
    # throwaway accounts) or at their registration
    referral_trigger: Literal["first_payment", "registration"] = "first_payment"
    # Subscription (Stars): the monthly plan's price, what each period includes (credits, and
    # chat messages per day for the assistant) and the one-time annual plan's price; the
    # operator's settings item ``subscription`` overrides these (genbot.payments.subscriptions)
    sub_stars: Annotated[int, Field(ge=1, le=10_000)] = 450
    sub_credits: NonNegativeInt = 150
    sub_chat_daily: NonNegativeInt = 100
    sub_year_stars: Annotated[int, Field(ge=1, le=10_000)] = 4500
    # Notices (genbot.notify). The discount offer: to a user whose one generation, more than
    # OFFER_DELAY_HOURS ago, left the balance at 0; its pack ("credits:stars:rubles") sells to
    # them alone for OFFER_HOURS.
    offer_pack: str = "20:50:99"
    offer_delay_hours: PositiveFloat = 24
    offer_hours: PositiveFloat = 72
    # the daily bonus is there on the first DAILY_BONUS_DAYS calendar days (TIMEZONE) from
    # registration; a reminder after BONUS_REMINDER_HOUR:00 on each of them, if not yet claimed
    daily_bonus_days: NonNegativeInt = 3
    bonus_reminder_hour: Annotated[int, Field(ge=0, le=23)] = DEFAULT_BONUS_REMINDER_HOUR
    # on the day of registration, not before this long after it (a reminder right after /start
    # would nag)
    bonus_reminder_delay_minutes: NonNegativeInt = 120
    # a subscription that won't renew by itself: a reminder this many days before it ends
    sub_reminder_days: PositiveInt = 3
    # The chat assistant (genbot.chat): an OpenAI chat model, a free trial of CHAT_TRIAL messages,
    # then the subscription's daily allowance, then COST_CHAT credits a message. The context
    # (CHAT_CONTEXT_TOKENS of history) lives CHAT_CONTEXT_HOURS after the last message.
    # the assistant's endpoint and key: by default OpenAI's (OPENAI_BASE_URL, the OPENAI_API_KEY
    # pool); any OpenAI-compatible chat API otherwise (the local stack's stand-in)
    chat_base_url: str = ""
    chat_api_key: str = ""
    chat_model: str = "gpt-4o-mini"
    chat_vision_model: str = "gpt-4o-mini"
    transcribe_model: str = "whisper-1"
    chat_system_prompt: str = (
        "You are a helpful assistant in a Telegram bot. Answer clearly and concisely; use "
        "Markdown for structure when it helps."
    )
    chat_trial: NonNegativeInt = 10
    cost_chat: NonNegativeInt = 1
    chat_context_tokens: Annotated[int, Field(ge=500)] = 6000
    chat_max_answer_tokens: Annotated[int, Field(ge=50)] = 1500
    chat_context_hours: PositiveInt = 24
    chat_max_voice_seconds: PositiveInt = 300
    # USD per million tokens, for the operator's cost log (input, output)
    chat_price_in: Annotated[float, Field(ge=0)] = 0.15
    chat_price_out: Annotated[float, Field(ge=0)] = 0.60
    # broadcasts: messages per second over all senders (Telegram allows about 30)
    broadcast_rate: Annotated[int, Field(ge=1, le=30)] = 28
    # The cabinet (Mini App, genbot.cabinet): how old an initData's auth_date may be (seconds),
    # and the site's origin for CORS (empty: no CORS headers, the site shares the API's origin)
    cabinet_auth_max_age: PositiveInt = 86400
    cabinet_origin: str = ""
    # the cabinet's URL (the Mini App): /admin's button opens its admin section; empty: no button
    cabinet_url: str = ""

    @field_validator("gemini_api_keys", "blocked_words", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [int(v) for v in _split_csv(value)] if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Moscow)") from None
        return value

    @field_validator("keypool_quota")
    @classmethod
    def _quota(cls, value: str) -> str:
        if value.strip() and not _parse_quotas(value):
            raise ValueError("expected one number, or provider=number pairs like 'gemini=500,openai=200'")
        return value

    def keypool_quotas(self) -> dict[str, int]:
        """Uses per key per day by provider (``*``: every provider); {} when unset."""
        return _parse_quotas(self.keypool_quota)

    @field_validator("pack_s", "pack_m", "pack_l", "offer_pack")
    @classmethod
    def _pack(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError("a pack is 'credits:stars:rubles', three positive whole numbers")
        return value

    def packs(self) -> dict[str, tuple[int, int, int]]:
        """Credit packs by name: (credits, stars, rubles)."""
        return {
            name: tuple(int(p) for p in raw.split(":"))  # type: ignore[misc]
            for name, raw in (("s", self.pack_s), ("m", self.pack_m), ("l", self.pack_l))
        }

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids


def _secret_values(secret_id: str) -> dict[str, str]:
    """Read the JSON secret through Powertools Parameters (cached for 5 minutes)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} must be a JSON object")
    return {k: str(v) for k, v in value.items() if k in SECRET_NAMES}


SECRET_MAX_AGE_SECONDS = 60  # Powertools Parameters' cache of the secret
SETTINGS_MAX_AGE_SECONDS = 240  # with a secret: re-read this often, so a rotation lands in <= 5 min


class _SettingsCache:
    """The settings of this process, read once; with a secret (AWS), re-read every few minutes.

    A rotated ``BOT_TOKEN`` or ``WEBHOOK_SECRET`` reaches warm instances within
    ``SETTINGS_MAX_AGE_SECONDS + SECRET_MAX_AGE_SECONDS`` (5 minutes) without a read per update.
    Unchanged values keep the same object, so what is built from the settings (the Bot, the
    provider router) is rebuilt only when something changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Settings | None = None
        self._read_at = 0.0
        self._environment: Settings | None = None

    def environment(self) -> Settings:
        """The settings without the secret: resource names and the region, which the secret never
        holds. Reading them (PynamoDB does when a model class is defined, i.e. at import) must not
        call Secrets Manager: at init that would be network before a SnapStart snapshot and the
        secret's values inside it."""
        value = self._value or self._environment
        if value is None:
            with self._lock:
                value = self._environment = _read_settings(with_secret=False)
        return value

    def __call__(self) -> Settings:
        value = self._value
        if value is not None and (
            not value.secret_id or time.monotonic() - self._read_at < SETTINGS_MAX_AGE_SECONDS
        ):
            return value
        with self._lock:
            fresh = _read_settings()
            if self._value is None or fresh != self._value:
                self._value = fresh
            self._read_at = time.monotonic()
            return self._value

    def cache_clear(self) -> None:
        """Forget the settings: the next call reads the environment again (tests, the local stack)."""
        with self._lock:
            self._value = self._environment = None


get_settings = _SettingsCache()


def _read_settings(with_secret: bool = True) -> Settings:
    """The settings from the environment (and the secret); a bad value fails here, named."""
    overrides: dict[str, Any] = {}
    secret_id = os.environ.get("SECRET_ID", "") if with_secret else ""
    if secret_id:
        for name, value in _secret_values(secret_id).items():
            if not os.environ.get(name):
                overrides[name.lower()] = value
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
