"""The layer build: what goes in, what stays out, caching, and (marked infra) the real wheels."""

from __future__ import annotations

import gettext
import shutil
from pathlib import Path

import pytest

from infra.bundling import build_layer
from tests.infra.cfn import ROOT


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what the layer is built from, safe to modify."""
    root = tmp_path / "repo"
    shutil.copytree(
        ROOT / "layers", root / "layers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo")
    )
    shutil.copy2(ROOT / "uv.lock", root / "uv.lock")
    return root


def test_sources_only_layer_ships_genbot_without_the_local_stack(checkout: Path) -> None:
    build = build_layer(checkout, with_deps=False)
    package = build.path / "python" / "genbot"

    assert (package / "__init__.py").is_file()
    assert (package / "resources.py").is_file()
    assert not (package / "local").exists()  # the dev-only local stack stays out
    assert not list(package.rglob("__pycache__"))
    assert not (build.path / "python" / "aiogram").exists()  # no deps in this mode


def test_gettext_catalogs_are_compiled_and_loadable(checkout: Path) -> None:
    pos = sorted((checkout / "layers/shared/python/genbot/locales").glob("*/LC_MESSAGES/*.po"))
    if not pos:
        pytest.skip("no catalogs yet")

    build = build_layer(checkout, with_deps=False)

    locales = build.path / "python" / "genbot" / "locales"
    for po in pos:
        lang, domain = po.parent.parent.name, po.stem
        assert (locales / lang / "LC_MESSAGES" / f"{domain}.mo").is_file()
        translation = gettext.translation(domain, localedir=locales, languages=[lang])
        assert isinstance(translation, gettext.GNUTranslations)


def test_build_is_cached_until_a_source_changes(checkout: Path) -> None:
    first = build_layer(checkout, with_deps=False)
    marker = first.path / "python" / "genbot" / "resources.py"
    mtime = marker.stat().st_mtime_ns

    again = build_layer(checkout, with_deps=False)
    assert again == first
    assert marker.stat().st_mtime_ns == mtime  # reused, not rebuilt

    (checkout / "layers/shared/python/genbot/resources.py").write_text("# changed\n", encoding="utf-8")
    changed = build_layer(checkout, with_deps=False)
    assert changed.asset_hash != first.asset_hash
    assert (changed.path / "python" / "genbot" / "resources.py").read_text() == "# changed\n"


def test_local_stack_changes_do_not_rebuild_the_layer(checkout: Path) -> None:
    first = build_layer(checkout, with_deps=False)
    (checkout / "layers/shared/python/genbot/local/__init__.py").write_text("# dev only\n")
    assert build_layer(checkout, with_deps=False).asset_hash == first.asset_hash


@pytest.mark.infra
def test_real_bundling_installs_aarch64_cp313_wheels(checkout: Path) -> None:
    # when the layer is built with its dependencies (downloads from PyPI, or uv's cache)
    build = build_layer(checkout, with_deps=True)
    python = build.path / "python"

    # then the runtime deps are there, built for Lambda's arm64 CPython 3.13
    assert (python / "aiogram" / "__init__.py").is_file()
    assert (python / "pynamodb" / "__init__.py").is_file()
    assert list((python / "pydantic_core").glob("_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
    native = list(python.rglob("*.so"))
    assert native
    assert not [p for p in native if "x86_64" in p.name or "cpython-311" in p.name]
    assert (python / "genbot" / "__init__.py").is_file()
    assert not (python / "genbot" / "local").exists()
    # Lambda's limit is 250 MB unzipped for function + layers
    size = sum(p.stat().st_size for p in python.rglob("*") if p.is_file())
    assert size < 200 * 1024 * 1024, f"layer is {size / 2**20:.0f} MB"
