"""Picks a provider and key for each generation and falls back when one can't serve.

Order of attempts for a job: the catalog's entries for (mode, tier) in order; within a real
provider, keys from the pool. A ``QuotaError`` cools that key and tries the provider's next
key; when the provider has no key left (``ExhaustedError``) or fails transiently (5xx,
timeout, model unavailable) the next provider is tried. Refusals and bad input are final:
asking another vendor to draw what one refused would be working around its safety rules.
If every entry failed transiently the worker gets a ``TransientError`` (an ``ExhaustedError``
when every one was out of keys) carrying the earliest known ``retry_after``.

A video started on a provider and key is polled on the same provider and key
(``Pending.key_id`` names it without revealing it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from genbot.config import Settings
from genbot.observability import logger, provider_call, traced
from genbot.providers import registry
from genbot.providers.base import (
    ExhaustedError,
    GenerationRequest,
    InvalidInputError,
    MediaResult,
    Pending,
    Provider,
    QuotaError,
    RefusedError,
    TransientError,
)
from genbot.providers.catalog import Catalog, CatalogEntry
from genbot.vocab import MODES, NEEDS_PHOTO

if TYPE_CHECKING:
    from genbot.providers.keypool import KeyPool

UNKEYED_KEY_ID = "local"  # key id of adapters that take no key from the pool


class ProviderRouter:
    """One per worker thread; adapters and their HTTP clients are created on first use."""

    def __init__(
        self, settings: Settings, pool: KeyPool | None = None, catalog: Catalog | None = None
    ) -> None:
        self.settings = settings
        self._pool = pool
        self._catalog = catalog
        self._adapters: dict[str, Provider] = {}

    @property
    def pool(self) -> KeyPool:
        if self._pool is None:
            from genbot.providers.keypool import KeyPool

            self._pool = KeyPool(self.settings)
        return self._pool

    def catalog(self) -> Catalog:
        """The fixed catalog given to the constructor, else the operator's (cached a minute)."""
        return self._catalog if self._catalog is not None else Catalog.load(self.settings)

    def adapter(self, name: str) -> Provider:
        """The adapter for a provider name, built on first use (its SDK is imported then)."""
        adapter = self._adapters.get(name)
        if adapter is None:
            spec = registry.get(name)
            if spec is None:
                raise InvalidInputError(f"unknown provider {name!r}")
            adapter = self._adapters[name] = spec.factory(self.settings)
        return adapter

    @staticmethod
    def _keyed(name: str) -> bool:
        spec = registry.get(name)
        return spec is None or spec.keyed

    async def run(self, req: GenerationRequest) -> MediaResult | Pending:
        """Generate with the first catalog entry that can; see the module docstring."""
        if req.mode not in MODES:
            raise InvalidInputError(f"unknown mode {req.mode!r}")
        if req.mode in NEEDS_PHOTO and not req.image:
            raise InvalidInputError(f"{req.mode} needs an input image")
        entries = self.catalog().entries(req.mode, req.tier)
        if not entries:
            raise InvalidInputError(f"no provider serves {req.mode}/{req.tier}")
        failures: list[TransientError] = []
        for entry in entries:
            try:
                outcome = await self._timed(req, entry)
            except TransientError as exc:
                failures.append(exc)
                logger.warning(
                    "provider failed, trying the next",
                    extra={"provider": entry.provider, "model": entry.model, "error": str(exc)[:300]},
                )
                continue
            logger.info(
                "provider served",
                extra={"provider": entry.provider, "model": entry.model, "mode": req.mode, "tier": req.tier},
            )
            return outcome
        waits = [f.retry_after for f in failures if f.retry_after]
        retry_after = min(waits) if waits else None
        summary = "; ".join(str(f)[:200] for f in failures)
        if all(isinstance(f, ExhaustedError) for f in failures):
            raise ExhaustedError(f"every provider is out of keys: {summary}", retry_after=retry_after)
        raise TransientError(f"every provider failed: {summary}", retry_after=retry_after)

    async def _timed(self, req: GenerationRequest, entry: CatalogEntry) -> MediaResult | Pending:
        """One catalog entry, in a trace subsegment, its latency and outcome measured."""
        started, outcome = time.perf_counter(), "error"
        try:
            async with traced(f"## provider {entry.provider}", provider=entry.provider, mode=str(req.mode)):
                result = await self._run_entry(req, entry)
            outcome = "ok"
            return result
        except RefusedError:
            outcome = "refused"
            raise
        except InvalidInputError:
            outcome = "invalid"
            raise
        except (QuotaError, ExhaustedError):  # out of quota, or every key of it cooling down
            outcome = "quota"
            raise
        except TransientError:
            outcome = "transient"
            raise
        finally:
            provider_call(entry.provider, outcome, started)

    async def _run_entry(self, req: GenerationRequest, entry: CatalogEntry) -> MediaResult | Pending:
        adapter = self.adapter(entry.provider)
        if not self._keyed(entry.provider):
            outcome = await adapter.generate(req, entry.model, "", dict(entry.options))
            if isinstance(outcome, Pending):
                return Pending(outcome.operation, entry.provider, UNKEYED_KEY_ID, entry.model)
            return outcome
        tried: list[str] = []
        while True:
            key_id, key = self.pool.acquire(entry.provider, exclude=tried)  # ExhaustedError ends it
            tried.append(key_id)
            try:
                outcome = await adapter.generate(req, entry.model, key, dict(entry.options))
            except QuotaError as exc:
                self.pool.report_quota(entry.provider, key_id, exc.retry_after)
                continue
            if isinstance(outcome, Pending):
                return Pending(outcome.operation, entry.provider, key_id, entry.model)
            return outcome

    async def poll(self, pending: Pending) -> MediaResult | Pending:
        """Poll an operation with the provider and key that started it.

        A 429 while polling is retried later by the worker, without cooling the key: the
        operation can't move to another key, and polling doesn't spend generation quota.
        """
        adapter = self.adapter(pending.provider)
        key = ""
        if self._keyed(pending.provider):
            try:
                key = self.pool.key_for(pending.provider, pending.key_id)
            except KeyError as exc:
                raise InvalidInputError(
                    "the key that started this operation is no longer configured"
                ) from exc
        outcome = await adapter.poll(pending, key)
        if isinstance(outcome, Pending):
            return Pending(outcome.operation, pending.provider, pending.key_id, pending.model)
        return outcome

    async def aclose(self) -> None:
        """Close every adapter's HTTP clients (call on the loop that used them)."""
        adapters, self._adapters = self._adapters, {}
        for adapter in adapters.values():
            await adapter.aclose()
