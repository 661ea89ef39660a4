"""What is deployed, and going back to what was: ``genbot release list|rollback|prune``.

Every function of a stack is invoked through its alias ``live`` (``resources.LIVE_ALIAS``) on a
published version, versions are kept on update, and each carries the deploy's release (the
commit, ``resources.RELEASE_ENV``) in its environment; a deploy of a new release publishes a new
version of every function. So a release is the set of versions carrying its name, and rolling
back is pointing each ``live`` alias at the version of the release before: seconds, no build,
no CloudFormation (whose next deploy moves the aliases on again).

Functions are found by their tags: ``aws:cloudformation:stack-name`` (CloudFormation adds it)
and ``resources.FUNCTION_TAG`` (the spec's name). Old versions are deleted by ``prune``:
Lambda bills every published SnapStart version's cached snapshot, so keep a few.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from genbot.resources import FUNCTION_TAG, LIVE_ALIAS, RELEASE_ENV

STACK_TAG = "aws:cloudformation:stack-name"
UNKNOWN = "?"


class ReleaseError(Exception):
    """The rollback or prune can't be done as asked; the message says why."""


@dataclass(frozen=True)
class Version:
    number: int
    release: str
    published: str  # LastModified: when it was published


@dataclass
class Function:
    """One of the stack's functions: its versions (oldest first) and the one ``live`` runs."""

    name: str  # the spec's name (webhook, generate, ...)
    function_name: str  # Lambda's
    versions: list[Version]
    live: int | None

    def version(self, number: int | None) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    def of_release(self, release: str) -> Version | None:
        """The newest version carrying ``release``."""
        matching = [v for v in self.versions if v.release == release]
        return matching[-1] if matching else None

    @property
    def live_release(self) -> str:
        found = self.version(self.live)
        return found.release if found else UNKNOWN


def _pages(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def stack_functions(client: Any, stack: str) -> list[Function]:
    """The functions ``stack`` deployed, by spec name; every version read once."""
    found: list[Function] = []
    for config in _pages(client, "list_functions", "Functions"):
        tags = client.list_tags(Resource=config["FunctionArn"]).get("Tags", {})
        if tags.get(STACK_TAG) != stack or FUNCTION_TAG not in tags:
            continue
        name = config["FunctionName"]
        versions = [
            Version(
                number=int(v["Version"]),
                release=(v.get("Environment") or {}).get("Variables", {}).get(RELEASE_ENV, UNKNOWN),
                published=str(v.get("LastModified", "")),
            )
            for v in _pages(client, "list_versions_by_function", "Versions", FunctionName=name)
            if v["Version"] != "$LATEST"
        ]
        versions.sort(key=lambda v: v.number)
        try:
            live: int | None = int(client.get_alias(FunctionName=name, Name=LIVE_ALIAS)["FunctionVersion"])
        except client.exceptions.ResourceNotFoundException:
            live = None
        found.append(Function(tags[FUNCTION_TAG], name, versions, live))
    if not found:
        raise ReleaseError(f"no genbot functions tagged with stack {stack!r} in this account and region")
    return sorted(found, key=lambda f: f.name)


def releases(functions: list[Function]) -> list[str]:
    """Every release the functions have versions of, oldest first (by when it was published)."""
    first: dict[str, str] = {}
    for fn in functions:
        for v in fn.versions:
            if v.release != UNKNOWN and (v.release not in first or v.published < first[v.release]):
                first[v.release] = v.published
    return sorted(first, key=lambda r: first[r])


def current_release(functions: list[Function]) -> str:
    """The release every ``live`` alias runs; an error when they disagree (a rollback half done,
    or a hand-made change): say which function runs what."""
    running = {fn.name: fn.live_release for fn in functions}
    if len(set(running.values())) != 1:
        detail = ", ".join(f"{name}: {release}" for name, release in sorted(running.items()))
        raise ReleaseError(f"the live aliases run different releases ({detail}); pass --to RELEASE")
    return next(iter(running.values()))


@dataclass(frozen=True)
class Move:
    function: Function
    to: Version

    def describe(self) -> str:
        was = self.function.version(self.function.live)
        before = f"{was.number} ({was.release})" if was else "none"
        return f"{self.function.name}: live {before} -> {self.to.number} ({self.to.release})"


def plan_rollback(functions: list[Function], to: str | None = None) -> list[Move]:
    """Each function's ``live`` alias onto release ``to`` (default: the one before the current);
    an error, moving nothing, when some function has no version of it."""
    if to is None:
        current = current_release(functions)
        known = releases(functions)
        if current not in known or known.index(current) == 0:
            raise ReleaseError(f"no release before {current} is kept (pruned, or the first deploy)")
        to = known[known.index(current) - 1]
    moves, missing = [], []
    for fn in functions:
        target = fn.of_release(to)
        if target is None:
            missing.append(fn.name)
        elif target.number != fn.live:
            moves.append(Move(fn, target))
    if missing:
        raise ReleaseError(f"release {to} has no version of {', '.join(missing)} (pruned, or newer)")
    return moves


def apply(client: Any, moves: list[Move]) -> None:
    for move in moves:
        client.update_alias(
            FunctionName=move.function.function_name, Name=LIVE_ALIAS, FunctionVersion=str(move.to.number)
        )


def plan_prune(functions: list[Function], keep: int) -> list[tuple[Function, Version]]:
    """The versions outside the ``keep`` newest releases, never one ``live`` runs."""
    if keep < 1:
        raise ReleaseError("keep at least 1 release (the live one)")
    kept = set(releases(functions)[-keep:])
    return [(fn, v) for fn in functions for v in fn.versions if v.release not in kept and v.number != fn.live]


def prune(client: Any, doomed: list[tuple[Function, Version]]) -> None:
    for fn, v in doomed:
        client.delete_function(FunctionName=fn.function_name, Qualifier=str(v.number))
