"""Provider API keys as a pool: per-key daily quotas and cool-downs, shared by every Lambda.

State lives in the settings table, one item per key per UTC day::

    key = "keypool#<provider>#<key_id>#<YYYY-MM-DD>"   used, cooldown_until, strikes

``key_id`` is a short SHA-256 fingerprint: the key itself is never stored or logged.

Reserving a use is one conditional ``UpdateItem`` (``ADD used 1`` if ``used < quota`` and the
key isn't cooling down), so concurrent Lambdas can never overspend a key. A failed condition
costs one ``GetItem`` to learn why; the answer is remembered in this process (cooling until T,
spent for the day) so a warm Lambda skips that key without asking again. A ``QuotaError``
cools the key down for the provider's ``retry_after`` or, when unknown, 60 s doubling per
repeat that day up to an hour (one ``UpdateItem``).

Quotas per provider per key per day: the settings item ``keypool_quota``
(``{"gemini": 500, "openai": 200}``), else the setting ``KEYPOOL_QUOTA``
(``"gemini=500,openai=200"`` or one number for all), else 500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable

from pynamodb.attributes import NumberAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError

from genbot.config import Settings
from genbot.observability import logger
from genbot.providers.base import ExhaustedError
from genbot.store.models import SettingItem, condition_failed, now_ms
from genbot.store.settings import cached_setting

DEFAULT_QUOTA = 500
BASE_COOLDOWN = 60.0
MAX_COOLDOWN = 3600.0


class KeyUsage(SettingItem):
    """A key pool counter: the settings table's item with the pool's numeric attributes.

    A subclass shares ``SettingItem``'s table (and follows it when the local stack renames it)
    but declares the attributes the atomic updates need, which a JSON ``value`` can't offer.
    """

    used = NumberAttribute(null=True)
    cooldown_until = NumberAttribute(null=True)  # epoch seconds
    strikes = NumberAttribute(null=True)  # quota errors today: drives the doubling


def fingerprint(key: str) -> str:
    """A short, stable, non-reversible id for a key (safe to store, log and put on a job)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def split_keys(raw: Iterable[str] | str) -> list[str]:
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for part in parts:
        key = part.strip()
        if key and key not in out:
            out.append(key)
    return out


class KeyPool:
    """Hands out keys per provider; every method is cheap when nothing is wrong."""

    def __init__(
        self,
        settings: Settings,
        quotas: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys: dict[str, dict[str, str]] = {
            "gemini": {fingerprint(k): k for k in split_keys(settings.gemini_api_keys)},
            "openai": {fingerprint(k): k for k in split_keys(settings.openai_api_key)},
        }
        self._settings = settings
        self._quotas = quotas
        self._clock = clock
        self._lock = threading.Lock()
        # process-local knowledge: (provider, key_id) -> cooling until; (provider, key_id, day) spent
        self._cooling: dict[tuple[str, str], float] = {}
        self._spent: set[tuple[str, str, str]] = set()
        self._strikes: dict[tuple[str, str], int] = {}

    # -- configuration -------------------------------------------------------------------------

    def key_ids(self, provider: str) -> list[str]:
        return list(self._keys.get(provider, {}))

    def quota(self, provider: str) -> int:
        """Uses per key per day for ``provider`` (settings item, then env, then 500)."""
        if self._quotas is not None:
            return int(self._quotas.get(provider, self._quotas.get("*", DEFAULT_QUOTA)))
        item = cached_setting("keypool_quota")
        if isinstance(item, dict):
            value = item.get(provider, item.get("*", item.get("default")))
            if isinstance(value, int) and value >= 0:
                return value
        env = self._settings.keypool_quotas()
        return int(env.get(provider, env.get("*", DEFAULT_QUOTA)))

    def key_for(self, provider: str, key_id: str) -> str:
        """The key behind a fingerprint (to poll an operation with the key that started it)."""
        try:
            return self._keys[provider][key_id]
        except KeyError:
            raise KeyError(f"no {provider} key with id {key_id} is configured") from None

    # -- state -----------------------------------------------------------------------------------

    def _day(self) -> str:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).strftime("%Y-%m-%d")

    @staticmethod
    def item_key(provider: str, key_id: str, day: str) -> str:
        return f"keypool#{provider}#{key_id}#{day}"

    def _locally_unavailable(self, provider: str, key_id: str, day: str, now: float) -> float | None:
        """When this process already knows the key can't serve: until when (inf = today)."""
        with self._lock:
            if (provider, key_id, day) in self._spent:
                return float("inf")
            until = self._cooling.get((provider, key_id), 0.0)
        return until if until > now else None

    def acquire(self, provider: str, exclude: Iterable[str] = ()) -> tuple[str, str]:
        """Reserve one use of some key of ``provider``: ``(key_id, key)``.

        Keys are tried from a random start so concurrent Lambdas spread over the pool.
        Raises ``ExhaustedError`` (with ``retry_after`` = the earliest cool-down end, when
        there is one) if every key is cooling down or spent for today.
        """
        keys = self._keys.get(provider, {})
        skip = set(exclude)
        ids = [k for k in keys if k not in skip]
        if not ids:
            raise ExhaustedError(f"no {provider} key left to try")
        start = random.randrange(len(ids))
        ids = ids[start:] + ids[:start]
        quota = self.quota(provider)
        day = self._day()
        earliest: float | None = None
        for key_id in ids:
            now = self._clock()
            blocked = self._locally_unavailable(provider, key_id, day, now)
            if blocked is None:
                if self._reserve(provider, key_id, day, quota, now):
                    return key_id, keys[key_id]
                blocked = self._locally_unavailable(provider, key_id, day, now)
            if blocked is not None and blocked != float("inf"):
                earliest = blocked if earliest is None else min(earliest, blocked)
        retry_after = max(1.0, earliest - self._clock()) if earliest is not None else None
        raise ExhaustedError(f"every {provider} key is cooling down or over quota", retry_after=retry_after)

    def _reserve(self, provider: str, key_id: str, day: str, quota: int, now: float) -> bool:
        """One conditional UpdateItem; on refusal one GetItem to remember why."""
        item = KeyUsage(self.item_key(provider, key_id, day))
        condition = (KeyUsage.used.does_not_exist() | (KeyUsage.used < quota)) & (
            KeyUsage.cooldown_until.does_not_exist() | (KeyUsage.cooldown_until <= int(now))
        )
        try:
            item.update(
                actions=[KeyUsage.used.add(1), KeyUsage.updated_at.set(now_ms())],
                condition=condition,
            )
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            self._learn(provider, key_id, day, quota, now)
            return False
        with self._lock:
            self._strikes[(provider, key_id)] = int(item.strikes or 0)
        return True

    def _learn(self, provider: str, key_id: str, day: str, quota: int, now: float) -> None:
        try:
            state = KeyUsage.get(self.item_key(provider, key_id, day), consistent_read=True)
        except DoesNotExist:
            return
        with self._lock:
            if state.cooldown_until and state.cooldown_until > now:
                self._cooling[(provider, key_id)] = float(state.cooldown_until)
            if state.used is not None and state.used >= quota:
                self._spent.add((provider, key_id, day))
                logger.warning("provider key spent for today", extra={"provider": provider, "key_id": key_id})
            self._strikes[(provider, key_id)] = int(state.strikes or 0)

    def report_quota(self, provider: str, key_id: str, retry_after: float | None = None) -> float:
        """Cool a key down after a quota error; returns the cool-down in seconds.

        With the provider's own ``retry_after`` that is used; otherwise 60 s, doubled for each
        earlier quota error of this key today, at most an hour. One UpdateItem.
        """
        with self._lock:
            strikes = self._strikes.get((provider, key_id), 0)
            self._strikes[(provider, key_id)] = strikes + 1
        if retry_after is not None and retry_after > 0:
            delay = min(float(retry_after), MAX_COOLDOWN)
        else:
            delay = min(BASE_COOLDOWN * 2**strikes, MAX_COOLDOWN)
        now = self._clock()
        until = now + delay
        with self._lock:
            self._cooling[(provider, key_id)] = until
        item = KeyUsage(self.item_key(provider, key_id, self._day()))
        item.update(
            actions=[
                KeyUsage.cooldown_until.set(int(until + 0.999)),
                KeyUsage.strikes.add(1),
                KeyUsage.updated_at.set(now_ms()),
            ]
        )
        logger.warning(
            "provider key cooling down",
            extra={"provider": provider, "key_id": key_id, "seconds": round(delay, 1)},
        )
        return delay
