"""Build the shared Lambda layer locally, without Docker.

The layer is ``python/`` = the runtime dependencies (exported from ``uv.lock``, installed as
manylinux aarch64 / CPython 3.13 wheels, then pruned) + the whole ``genbot`` package +
compiled gettext catalogs + CPython 3.13 bytecode for all of it. There is no Docker daemon on
the build machines, and the dependencies are all available as wheels, so a cross-platform
``--only-binary`` install is both enough and fast (one exception: ``SDIST_ALLOWED``, pure-Python
packages that publish no wheel, built to a universal wheel during the install).

What goes in:

- Dependencies: ``uv export --no-dev --no-default-groups`` of ``uv.lock``, i.e. the project's
  own runtime dependencies and nothing from a dependency group (dev tools, the test stack, the
  ``local`` group's moto and Pillow).
- ``genbot``: the whole package under ``layers/shared/python``; only build artefacts
  (``__pycache__``, ``.pyc``, and ``.mo``, which are compiled fresh from the ``.po`` sources)
  are left out. The dev-only local stack is the separate top-level ``genbot_local`` package,
  outside ``layers/``, so nothing has to be filtered out by name.

Pruning (deterministic: fixed lists, applied in sorted order, before the bytecode is built):

- Babel's ``locale-data/*.dat``: kept are ``root.dat`` and ``<lang>.dat`` / ``<lang>_*.dat``
  for ``BABEL_LOCALES`` (``genbot.i18n.LANGUAGES``: ru, en), which covers every parent a
  ``Locale('en', 'GB')`` loads (``root`` -> ``en`` -> ``en_001`` -> ``en_GB``) and the likely
  subtags (``en_US``, ``ru_RU``). ``babel/global.dat`` and the licence stay. genbot reads
  translations from ``.mo`` files and never parses a user's locale (``UserLocaleMiddleware``
  overrides aiogram's ``Locale.parse`` of ``language_code``); ~29 MB of data for ~950 other
  locales goes.
- ``UNUSED_DISTRIBUTIONS`` (every file in their ``RECORD``, dist-info included):
  ``cryptography`` and its own dependencies ``cffi`` and ``pycparser``. Only google-auth
  (required by google-genai) depends on cryptography, and it imports it lazily, only to sign
  service-account JWTs, load mTLS client certificates and agent-identity certificates: Vertex
  AI and Application Default Credentials paths. genbot talks to the Gemini Developer API with
  API keys (``genai.Client(api_key=...)``), so no function imports it
  (``tests/infra/test_bundling.py`` imports every genbot module and the handlers and makes a
  Gemini call, and checks none of them is in ``sys.modules``). ~15 MB.
- ``bin/``: console-script launchers (``pybabel``, ``normalizer``...) whose shebang names the
  build machine's interpreter; Lambda never runs them.

Bytecode: ``python3.13 -I -m compileall --invalidation-mode unchecked-hash`` over the
dependencies (once per lock) and over ``genbot`` (per build), writing the
``__pycache__/*.cpython-313.pyc`` files CPython 3.13 loads from ``/opt/python`` on Lambda.
Unchecked-hash pycs (PEP 552) are used without looking at the source, so the read-only
``/opt`` never needs a rewrite and a cold start compiles nothing; ``-s``/``-p`` record
``/opt/python/...`` as their file names. The build machine's Python is 3.11, so a CPython 3.13
is looked up (``GENBOT_LAYER_PYTHON``, ``python3.13`` on PATH, pyenv, uv-managed) and the build
fails with a ``BundlingError`` saying how to install one if there is none. A sources-only
layer (``-c bundle=false`` / ``GENBOT_SKIP_LAYER_DEPS``, for fast tests) is not compiled.

Installing uses ``uv pip`` rather than ``pip``: the project's venv ships no pip, and uv ignores
this machine's global pip config (a constraints file and ``/opt/wheels`` find-links meant for
other projects) when run with ``--no-config``. uv is needed anyway to export the lock.

Builds are cached under ``build/`` by content hash: the dependency install (pruned and
compiled) by the hash of ``uv.lock`` and ``RECIPE_VERSION`` (the slow part), the assembled
layer by that plus the hash of the genbot sources. Both are written to a temporary directory
and renamed into place, so concurrent synths never see half a layer.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when the recipe below changes, so cached builds are not reused.
RECIPE_VERSION = "4"
PLATFORM = "aarch64-manylinux2014"  # uv's name for pip's manylinux2014_aarch64
PYTHON_VERSION = "3.13"
CACHE_TAG = "cpython-313"  # sys.implementation.cache_tag of Lambda's python3.13 runtime
LAYER_MOUNT = "/opt/python"  # where Lambda puts the layer's python/ (on sys.path)
PACKAGE = "genbot"
EXCLUDED_DIRS = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".mo")  # .mo files are compiled fresh from the .po sources
BABEL_LOCALES = ("ru", "en")  # genbot.i18n.LANGUAGES (a test keeps them in step)
UNUSED_DISTRIBUTIONS = ("cryptography", "cffi", "pycparser")  # see the module docstring
# Data no function reads: netaddr (pulled in by the yookassa SDK for an IP helper we don't call;
# our notification check uses ``ipaddress``) ships 9 MB of MAC-vendor databases and its tests.
UNUSED_PATHS = (
    "netaddr/eui/oui.txt",
    "netaddr/eui/oui.idx",
    "netaddr/eui/iab.txt",
    "netaddr/eui/iab.idx",
    "netaddr/tests",
)
PYTHON_ENV = "GENBOT_LAYER_PYTHON"  # an explicit CPython 3.13 for the bytecode
KEEP_BUILDS = 3
EXPORT_FORMAT = ("--format", "requirements-txt", "--no-header", "--quiet")

log = logging.getLogger(__name__)


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


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # uv ignores them; be sure


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr.strip() + "\n" + result.stdout.strip()).strip()
        raise BundlingError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result.stdout


def _query(cmd: list[str]) -> str | None:
    """A command's stdout, or None if it cannot run or fails (for probing the machine)."""
    try:
        result = subprocess.run(
            cmd, env=_clean_env(), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


# -- CPython 3.13 for the bytecode ----------------------------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    """``.../versions/3.13.10/bin/python3.13`` sorts after ``3.13.2``."""
    return tuple(int(n) for n in re.findall(r"\d+", path.parents[1].name)) or (0,)


def _python_candidates() -> Iterator[str]:
    """Where a CPython 3.13 may be, most explicit first (each is verified by running it)."""
    override = os.environ.get(PYTHON_ENV)
    if override:
        yield override
        return  # asked for that one: no guessing behind the user's back
    exe = f"python{PYTHON_VERSION}"
    on_path = shutil.which(exe)
    if on_path:
        yield on_path  # may be a pyenv shim that refuses to run: verified below
    pyenv = shutil.which("pyenv")
    if pyenv:
        prefix = _query([pyenv, "prefix", PYTHON_VERSION])
        if prefix:
            yield str(Path(prefix.splitlines()[0]) / "bin" / exe)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root.glob(f"versions/{PYTHON_VERSION}.*/bin/{exe}")
    yield from (str(p) for p in sorted(versions, key=_version_key, reverse=True))
    uv = shutil.which("uv")
    if uv:
        managed = _query([uv, "python", "find", "--no-config", "--managed-python", PYTHON_VERSION])
        if managed:
            yield managed.splitlines()[0]


def find_python() -> Path:
    """A CPython 3.13 interpreter on this machine, or a BundlingError saying how to get one."""
    tried: list[str] = []
    for candidate in _python_candidates():
        if any(t.startswith(f"{candidate} (") for t in tried):
            continue
        tag = _query([candidate, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"])
        if tag == CACHE_TAG:
            return Path(candidate)
        tried.append(f"{candidate} ({tag or 'does not run'})")
    raise BundlingError(
        f"CPython {PYTHON_VERSION} is needed to compile the layer's bytecode for Lambda's "
        f"python{PYTHON_VERSION} runtime, and none was found"
        + (f" (tried: {', '.join(tried)})" if tried else " (no python3.13 on PATH, no pyenv or uv one)")
        + f". Install one with `uv python install {PYTHON_VERSION}` or `pyenv install "
        f"{PYTHON_VERSION}`, or point {PYTHON_ENV} at a python{PYTHON_VERSION} binary; or synthesize "
        "with -c bundle=false (GENBOT_SKIP_LAYER_DEPS=1) to ship the genbot sources only."
    )


def compile_bytecode(python_dir: Path, interpreter: Path, *subdirs: str) -> int:
    """Compile ``python_dir`` (or some of its subdirs) to unchecked-hash CPython 3.13 pycs.

    The pycs land in ``__pycache__/<name>.cpython-313.pyc``, where CPython 3.13 looks, with
    ``/opt/python/...`` as their file name. Returns how many there are under the targets; a
    ``.py`` left without its pyc is an error.
    """
    targets = [python_dir / s for s in subdirs] if subdirs else [python_dir]
    _run(
        [
            *(str(interpreter), "-I", "-W", "ignore", "-m", "compileall", "-q", "-j", "0"),
            *("--invalidation-mode", "unchecked-hash", "-s", str(python_dir), "-p", LAYER_MOUNT),
            *(str(t) for t in targets),
        ],
        cwd=python_dir,
        what=f"compiling the layer's bytecode with {interpreter}",
    )
    sources = [p for t in targets for p in sorted(t.rglob("*.py"))]
    missing = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.{CACHE_TAG}.pyc").is_file()]
    if missing:
        listed = ", ".join(str(p.relative_to(python_dir)) for p in missing[:5])
        raise BundlingError(f"compileall left {len(missing)} modules without a {CACHE_TAG} pyc: {listed}")
    return len(sources)


# -- pruning ----------------------------------------------------------------------------------------


def prune_babel_locales(python_dir: Path, keep: tuple[str, ...] = BABEL_LOCALES) -> list[str]:
    """Drop Babel's locale data except ``root`` and the ``keep`` languages (with their regions)."""
    data = python_dir / "babel" / "locale-data"
    if not data.is_dir():
        return []
    wanted = {"root", *keep}
    removed = []
    for dat in sorted(data.glob("*.dat")):
        if dat.stem.split("_")[0] not in wanted:
            dat.unlink()
            removed.append(dat.stem)
    return removed


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def remove_distribution(python_dir: Path, name: str) -> int:
    """Delete every file an installed distribution's RECORD lists; returns how many went."""
    wanted = _normalize(name)
    infos = [d for d in sorted(python_dir.glob("*.dist-info")) if _normalize(d.name.split("-")[0]) == wanted]
    root = python_dir.resolve()
    removed = 0
    for info in infos:
        with (info / "RECORD").open(newline="") as record:
            paths = sorted({row[0] for row in csv.reader(record) if row})
        dirs: set[Path] = set()
        for rel in paths:
            path = (python_dir / rel).resolve()
            if not path.is_relative_to(root):
                continue  # never delete outside the layer
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed += 1
                dirs.update(p for p in path.parents if p.is_relative_to(root) and p != root)
        for folder in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return removed


def prune_dependencies(python_dir: Path) -> None:
    """Everything the functions never import at run time (see the module docstring)."""
    locales = prune_babel_locales(python_dir)
    for name in UNUSED_DISTRIBUTIONS:
        remove_distribution(python_dir, name)
    for rel in UNUSED_PATHS:
        target = python_dir / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    shutil.rmtree(python_dir / "bin", ignore_errors=True)
    log.debug("pruned %d Babel locales and %s", len(locales), ", ".join(UNUSED_DISTRIBUTIONS))


# -- building ---------------------------------------------------------------------------------------


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


def deps_dir(root: Path, build_dir: Path | None = None) -> Path:
    """Where the dependency install for the current lock is cached (it holds ``python/``)."""
    return (build_dir or root / "build") / f"deps-{lock_hash(root / 'uv.lock')[:16]}"


def export_requirements(root: Path) -> str:
    """The runtime dependencies pinned by ``uv.lock``: no dependency group, not the project."""
    return _run(
        [
            *_uv(),
            *("export", "--frozen", "--no-dev", "--no-default-groups", "--no-emit-project", "--no-hashes"),
            *EXPORT_FORMAT,
        ],
        cwd=root,
        what="uv export",
    )


# Pure-Python packages published only as an sdist: built (to a py3-none-any wheel) during the
# install. Everything else must come as a manylinux aarch64 / cp313 wheel: nothing compiled here.
SDIST_ALLOWED = frozenset({"yookassa"})


def binary_only_flags(requirements: str) -> list[str]:
    """``--only-binary <name>`` for every requirement but the pure-Python sdist-only ones."""
    flags: list[str] = []
    for line in requirements.splitlines():
        name = line.split("==")[0].split(";")[0].split("[")[0].strip().lower()
        if name and not name.startswith(("#", "-")) and name.replace("_", "-") not in SDIST_ALLOWED:
            flags += ["--only-binary", name]
    return flags


def install_dependencies(root: Path, build_dir: Path, interpreter: Path | None = None) -> Path:
    """The runtime dependencies for Lambda (arm64, CPython 3.13), pruned and compiled, cached."""
    final = deps_dir(root, build_dir)
    if (final / "python").is_dir():
        return final / "python"
    interpreter = interpreter or find_python()
    tmp = _fresh_dir(final)
    try:
        requirements = tmp / "requirements.txt"
        requirements.write_text(export_requirements(root))
        _run(
            [
                *_uv(),
                *("pip", "install", "--no-config", "--target", str(tmp / "python")),
                *("--python-platform", PLATFORM, "--python-version", PYTHON_VERSION),
                *binary_only_flags(requirements.read_text()),
                *("--no-compile", "--quiet", "-r", str(requirements)),
            ],
            cwd=root,
            what="installing the layer's dependencies",
        )
        prune_dependencies(tmp / "python")
        compile_bytecode(tmp / "python", interpreter)
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


def _layer_dir(root: Path, with_deps: bool, build_dir: Path) -> tuple[Path, str, Path]:
    package_dir = root / "layers" / "shared" / "python" / PACKAGE
    if not (package_dir / "__init__.py").is_file():
        raise BundlingError(f"the shared package is missing: {package_dir}/__init__.py")
    parts = [RECIPE_VERSION, sources_hash(package_dir)]
    if with_deps:
        parts.append(lock_hash(root / "uv.lock"))
    asset_hash = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return build_dir / f"layer-{'full' if with_deps else 'src'}-{asset_hash[:16]}", asset_hash, package_dir


def build_layer(root: Path, *, with_deps: bool = True, build_dir: Path | None = None) -> LayerBuild:
    """Build (or reuse) the layer directory for the current sources and lock file."""
    build_dir = build_dir or root / "build"
    final, asset_hash, package_dir = _layer_dir(root, with_deps, build_dir)
    if (final / "python" / PACKAGE).is_dir():
        return LayerBuild(final, asset_hash, with_deps)

    interpreter = find_python() if with_deps else None  # before the slow part: fail fast
    deps = install_dependencies(root, build_dir, interpreter) if interpreter else None
    tmp = _fresh_dir(final)
    try:
        if deps is not None:
            _link_tree(deps, tmp / "python")
        _copy_package(package_dir, tmp / "python" / PACKAGE)
        compile_catalogs(tmp / "python" / PACKAGE)
        if interpreter:
            compile_bytecode(tmp / "python", interpreter, PACKAGE)
        else:
            log.info("sources-only layer: no bytecode compiled (Lambda compiles genbot at each cold start)")
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
