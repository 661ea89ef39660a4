"""Build the shared Lambda layer locally, without Docker.

The layer is ``python/`` = the runtime dependencies (exported from ``uv.lock``, installed as
manylinux aarch64 / CPython 3.13 wheels) + the ``genbot`` package (minus the dev-only local
stack) + compiled gettext catalogs. There is no Docker daemon on the build machines, and the
dependencies are all available as wheels, so a cross-platform ``--only-binary`` install is
both enough and fast.

Installing uses ``uv pip`` rather than ``pip``: the project's venv ships no pip, and uv ignores
this machine's global pip config (a constraints file and ``/opt/wheels`` find-links meant for
other projects) when run with ``--no-config``. uv is needed anyway to export the lock.

Builds are cached under ``build/`` by content hash: the dependency install by the hash of
``uv.lock`` (the slow part), the assembled layer by that plus the hash of the genbot sources.
Both are written to a temporary directory and renamed into place, so concurrent synths never
see half a layer.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when the recipe below changes, so cached builds are not reused.
RECIPE_VERSION = "1"
PLATFORM = "aarch64-manylinux2014"  # uv's name for pip's manylinux2014_aarch64
PYTHON_VERSION = "3.13"
PACKAGE = "genbot"
EXCLUDED_DIRS = frozenset({"local", "__pycache__"})  # genbot/local is the dev-only local stack
EXCLUDED_SUFFIXES = (".pyc", ".mo")  # .mo files are compiled fresh from the .po sources
KEEP_BUILDS = 3
EXPORT_FORMAT = ("--format", "requirements-txt", "--no-header", "--quiet")


class BundlingError(RuntimeError):
    """The layer could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class LayerBuild:
    """A built layer directory (it contains ``python/``) and the hash that identifies it."""

    path: Path
    asset_hash: str
    with_deps: bool


def _package_files(package_dir: Path) -> Iterator[Path]:
    """The genbot files that go into the layer, in a stable order."""
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if any(part in EXCLUDED_DIRS for part in rel.parts):
            continue
        if path.is_file() and not path.name.endswith(EXCLUDED_SUFFIXES):
            yield path


def sources_hash(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in _package_files(package_dir):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def lock_hash(lock_file: Path) -> str:
    digest = hashlib.sha256(f"{RECIPE_VERSION}|{PLATFORM}|{PYTHON_VERSION}|".encode())
    digest.update(lock_file.read_bytes())
    return digest.hexdigest()


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    raise BundlingError(
        "uv is not on PATH; it is needed to export uv.lock and install the layer's dependencies "
        "(https://docs.astral.sh/uv/). Or synthesize with -c bundle=false to ship the genbot "
        "sources only."
    )


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # uv ignores them; be sure
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundlingError(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return result.stdout


def _fresh_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))


def _publish(tmp: Path, final: Path) -> None:
    """Move a finished build into place; a concurrent build that won the race is kept."""
    try:
        tmp.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def install_dependencies(root: Path, build_dir: Path) -> Path:
    """The runtime dependencies for Lambda (arm64, CPython 3.13), cached by the lock's hash."""
    final = build_dir / f"deps-{lock_hash(root / 'uv.lock')[:16]}"
    if (final / "python").is_dir():
        return final / "python"
    tmp = _fresh_dir(final)
    try:
        requirements = tmp / "requirements.txt"
        exported = _run(
            [*_uv(), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", *EXPORT_FORMAT],
            cwd=root,
            what="uv export",
        )
        requirements.write_text(exported)
        _run(
            [
                *_uv(),
                *("pip", "install", "--no-config", "--target", str(tmp / "python")),
                *("--python-platform", PLATFORM, "--python-version", PYTHON_VERSION),
                *("--only-binary", ":all:", "--no-compile", "--quiet", "-r", str(requirements)),
            ],
            cwd=root,
            what="installing the layer's dependencies",
        )
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / "python"


def compile_catalogs(package_dir: Path) -> int:
    """Compile every ``locales/*/LC_MESSAGES/*.po`` next to itself as ``.mo``; returns the count."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    count = 0
    for po in sorted(package_dir.glob("locales/*/LC_MESSAGES/*.po")):
        with po.open("rb") as src:
            catalog = read_po(src, locale=po.parent.parent.name)
        with po.with_suffix(".mo").open("wb") as dst:
            write_mo(dst, catalog)
        count += 1
    return count


def _copy_package(package_dir: Path, target: Path) -> None:
    for path in _package_files(package_dir):
        dest = target / path.relative_to(package_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link a directory tree (falls back to copying across file systems)."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dest, copy_function=link, dirs_exist_ok=True)


def build_layer(root: Path, *, with_deps: bool = True, build_dir: Path | None = None) -> LayerBuild:
    """Build (or reuse) the layer directory for the current sources and lock file."""
    build_dir = build_dir or root / "build"
    package_dir = root / "layers" / "shared" / "python" / PACKAGE
    if not (package_dir / "__init__.py").is_file():
        raise BundlingError(f"the shared package is missing: {package_dir}/__init__.py")

    parts = [RECIPE_VERSION, sources_hash(package_dir)]
    if with_deps:
        parts.append(lock_hash(root / "uv.lock"))
    asset_hash = hashlib.sha256("|".join(parts).encode()).hexdigest()
    final = build_dir / f"layer-{'full' if with_deps else 'src'}-{asset_hash[:16]}"
    if (final / "python" / PACKAGE).is_dir():
        return LayerBuild(final, asset_hash, with_deps)

    deps = install_dependencies(root, build_dir) if with_deps else None
    tmp = _fresh_dir(final)
    try:
        if deps is not None:
            _link_tree(deps, tmp / "python")
        _copy_package(package_dir, tmp / "python" / PACKAGE)
        compile_catalogs(tmp / "python" / PACKAGE)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(build_dir, f"layer-{'full' if with_deps else 'src'}-", keep=KEEP_BUILDS)
    return LayerBuild(final, asset_hash, with_deps)


def _prune(build_dir: Path, prefix: str, keep: int) -> None:
    """Drop all but the newest ``keep`` builds (a concurrent synth may still use a recent one)."""
    builds = sorted(build_dir.glob(f"{prefix}*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)
