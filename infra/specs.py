"""The app's specs, gathered in one value the stack is built from.

The defaults come from ``genbot`` (the single source of truth); tests pass modified copies, e.g.
with a schedule added, to check that the stack follows the specs without any CDK change.
Cross-references are checked here so a typo in a spec fails the synth with a clear message
instead of a KeyError deep inside a construct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from genbot.resources import BucketSpec, FunctionSpec, QueueSpec, ScheduleSpec
from genbot.store.tables import TableSpec

MIN_MAX_RECEIVE_COUNT = 5  # AWS advice for Lambda consumers: throttles count as receives
# what a function may be given on a table (genbot.resources.Access; "write" is for buckets only)
TABLE_ACCESS = ("read", "items", "items_scan", "read_write")


class SpecError(ValueError):
    """A spec refers to something that does not exist, or breaks an AWS rule."""


@dataclass(frozen=True)
class AppSpecs:
    tables: tuple[TableSpec, ...]
    functions: Mapping[str, FunctionSpec]
    queues: Mapping[str, QueueSpec]
    buckets: Mapping[str, BucketSpec]
    schedules: Mapping[str, ScheduleSpec]

    @classmethod
    def load(cls) -> AppSpecs:
        """The specs as ``genbot`` defines them."""
        from genbot import resources
        from genbot.store.tables import table_specs

        return cls(
            tables=tuple(table_specs()),
            functions=dict(resources.FUNCTIONS),
            queues=dict(resources.QUEUES),
            buckets=dict(resources.BUCKETS),
            schedules=dict(resources.SCHEDULES),
        )

    @property
    def tables_by_name(self) -> dict[str, TableSpec]:
        return {t.name: t for t in self.tables}

    def visibility_timeout_seconds(self, queue: QueueSpec) -> int:
        """Six times the consumer's timeout (``genbot.resources.visibility_timeout_seconds``)."""
        from genbot.resources import FUNCTIONS, visibility_timeout_seconds

        if FUNCTIONS.get(queue.consumer) == self.functions[queue.consumer]:
            return visibility_timeout_seconds(queue)
        return 6 * self.functions[queue.consumer].timeout_seconds

    def consumed_queue(self, function: str) -> list[QueueSpec]:
        return [q for q in self.queues.values() if q.consumer == function]

    def validate(self) -> AppSpecs:
        problems: list[str] = []
        tables = self.tables_by_name
        for fn in self.functions.values():
            problems += [f"function {fn.name}: unknown table {t!r}" for t in fn.tables if t not in tables]
            problems += [
                f"function {fn.name}: table {t!r} has access {a!r}, not one of {', '.join(TABLE_ACCESS)}"
                for t, a in fn.tables.items()
                if a not in TABLE_ACCESS
            ]
            problems += [
                f"function {fn.name}: unknown queue {q!r}" for q in fn.sends_to if q not in self.queues
            ]
            problems += [
                f"function {fn.name}: unknown bucket {b!r}" for b in fn.buckets if b not in self.buckets
            ]
            problems += [
                f"function {fn.name}: write_prefixes for {t!r}, which it can't read"
                for t in fn.write_prefixes
                if t not in fn.tables
            ]
        for q in self.queues.values():
            for role, fn_name in (("consumer", q.consumer), ("dlq_consumer", q.dlq_consumer)):
                if fn_name is not None and fn_name not in self.functions:
                    problems.append(f"queue {q.name}: {role} {fn_name!r} is not a function")
            if q.max_receive_count < MIN_MAX_RECEIVE_COUNT:
                problems.append(
                    f"queue {q.name}: max_receive_count {q.max_receive_count} < {MIN_MAX_RECEIVE_COUNT}"
                )
            if q.batch_size > 10 and q.max_batching_window_seconds == 0:
                problems.append(f"queue {q.name}: batch_size > 10 needs max_batching_window_seconds")
        for s in self.schedules.values():
            if s.function not in self.functions:
                problems.append(f"schedule {s.name}: function {s.function!r} does not exist")
        for fn in self.functions.values():
            if fn.reserved_concurrency is None:
                continue
            needed = sum(
                (q.max_concurrency or 2) * (q.consumer == fn.name)
                + q.dlq_max_concurrency * (q.dlq_consumer == fn.name)
                for q in self.queues.values()
            ) + sum(1 for s in self.schedules.values() if s.function == fn.name)
            if needed > fn.reserved_concurrency:
                problems.append(
                    f"function {fn.name}: its event sources and schedules may run {needed} at once, more "
                    f"than its reserved concurrency {fn.reserved_concurrency} (throttled polls count)"
                )
        for t in self.tables:
            for i in t.indexes:
                if i.local and (i.partition_key != t.partition_key or i.sort_key is None):
                    problems.append(f"table {t.name}: LSI {i.name} needs the table's key and a sort key")
        if problems:
            raise SpecError("invalid app specs:\n  " + "\n  ".join(problems))
        return self
