"""The layer build: what goes in, what is pruned, the bytecode, caching, and (marked infra) the
real wheels.

Everything but the ``infra`` test is offline and builds sources-only layers or fake trees; the
``infra`` test installs the real aarch64 wheels (from uv's cache, or PyPI the first time).
"""

from __future__ import annotations

import gettext
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from infra import bundling
from infra.bundling import (
    BABEL_LOCALES,
    CACHE_TAG,
    PYTHON_ENV,
    UNUSED_DISTRIBUTIONS,
    BundlingError,
    build_layer,
    compile_bytecode,
    export_requirements,
    find_python,
    prune_babel_locales,
    remove_distribution,
)

MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"  # importlib.util.MAGIC_NUMBER of CPython 3.13
UNCHECKED_HASH = 0b01  # PEP 552 flags: bit 0 = hash-based, bit 1 = check_source
LIMIT = 120_000_000  # bytes unzipped, bytecode included
# Top-level modules of UNUSED_DISTRIBUTIONS (cffi also ships the _cffi_backend extension).
UNUSED_MODULES = frozenset({"cryptography", "cffi", "_cffi_backend", "pycparser"})


# Run as `python -I -S -c RUNTIME_PROBE <layer python/> <purelib> <platlib> <functions/>`.
RUNTIME_PROBE = """
import asyncio, importlib, importlib.util, json, pkgutil, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

layer, purelib, platlib, functions = sys.argv[1:5]
sys.path[:0] = [layer, purelib, platlib]
import genbot

errors = []
for info in pkgutil.walk_packages(genbot.__path__, "genbot.", onerror=errors.append):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        errors.append(f"{info.name}: {exc!r}")
for name in ("webhook", "generate"):
    spec = importlib.util.spec_from_file_location("handler_" + name, f"{functions}/{name}/handler.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


class Gemini(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        parts = [{"text": "ok"}]
        body = json.dumps({"candidates": [{"content": {"role": "model", "parts": parts}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Gemini)
threading.Thread(target=server.serve_forever, daemon=True).start()
from google import genai
from google.genai import types


async def call():  # as genbot.providers.gemini calls it: the Developer API with an API key
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{server.server_port}", api_version="v1beta")
    client = genai.Client(api_key="key", http_options=options)
    return (await client.aio.models.generate_content(model="gemini-test", contents="hi")).text


from genbot.i18n import LANGUAGES

out = {"genbot": [genbot.__file__], "errors": errors, "gemini": [asyncio.run(call())]}
print(json.dumps({**out, "languages": list(LANGUAGES), "modules": sorted(sys.modules)}))
"""


def _copy_checkout(repo_root: Path, root: Path) -> Path:
    """What the layer is built from (and the local stack next to it), without build artefacts."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo")
    shutil.copytree(repo_root / "layers", root / "layers", ignore=ignore)
    shutil.copytree(repo_root / "genbot_local", root / "genbot_local", ignore=ignore)
    shutil.copy2(repo_root / "uv.lock", root / "uv.lock")
    return root


@pytest.fixture
def checkout(tmp_path: Path, repo_root: Path) -> Path:
    """A copy of the repository's layer sources, safe to modify."""
    return _copy_checkout(repo_root, tmp_path / "repo")


@pytest.fixture(scope="module")
def python313() -> Path:
    """The CPython 3.13 the build uses (the build fails without one, so these tests do too)."""
    return find_python()


def _no_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine whose only candidates are this 3.11 and a python3.13 that is not there."""
    monkeypatch.setattr(
        bundling, "_python_candidates", lambda: iter([sys.executable, str(tmp_path / "py313")])
    )


def _pyc(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"


# -- what goes in ---------------------------------------------------------------------------------


def test_sources_only_layer_ships_the_whole_genbot_package_and_no_genbot_local(checkout: Path) -> None:
    # given a new subpackage, even one called "local" (nothing is filtered by name any more)
    package_src = checkout / "layers/shared/python/genbot"
    (package_src / "local").mkdir()
    (package_src / "local" / "__init__.py").write_text("# production code now\n")

    build = build_layer(checkout, with_deps=False)
    python = build.path / "python"
    package = python / "genbot"

    shipped = {p.relative_to(package_src) for p in package_src.rglob("*") if p.is_file()}
    assert shipped <= {p.relative_to(package) for p in package.rglob("*") if p.is_file()}
    assert (package / "local" / "__init__.py").is_file()
    assert not list(python.rglob("genbot_local*"))  # the local stack lives outside layers/
    assert not list(package.rglob("__pycache__"))  # no bytecode in a sources-only layer
    assert not (python / "aiogram").exists()  # no deps in this mode


def test_layer_genbot_imports_nothing_from_genbot_local(checkout: Path) -> None:
    build = build_layer(checkout, with_deps=False)
    python = build.path / "python"
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(python)!r})\n"
        "import genbot\n"
        "print(genbot.__file__)\n"
        "print(sorted(m for m in sys.modules if m.startswith('genbot_local')))\n"
    )
    # -I: no cwd, PYTHONPATH or user site on sys.path; -S: not the venv's editable install
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=build.path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [str(python / "genbot" / "__init__.py"), "[]"]


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


def test_any_genbot_file_rebuilds_the_layer_but_the_local_stack_does_not(checkout: Path) -> None:
    first = build_layer(checkout, with_deps=False)
    (checkout / "genbot_local" / "__init__.py").write_text("# dev only\n")
    assert build_layer(checkout, with_deps=False).asset_hash == first.asset_hash

    (checkout / "layers/shared/python/genbot/local").mkdir()
    (checkout / "layers/shared/python/genbot/local/__init__.py").write_text("# shipped\n")
    assert build_layer(checkout, with_deps=False).asset_hash != first.asset_hash


def test_dependencies_are_the_runtime_closure_without_dependency_groups(repo_root: Path) -> None:
    exported = {
        line.split("==")[0].strip().lower()
        for line in export_requirements(repo_root).splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert {"aiogram", "babel", "boto3", "google-genai", "openai", "pynamodb"} <= exported
    # the dev and local groups: test tools, the CDK, moto and Pillow for the local stack
    assert not exported & {"pytest", "ruff", "mypy", "playwright", "aws-cdk-lib", "moto", "pillow"}
    assert "genbot" not in exported


# -- pruning ----------------------------------------------------------------------------------------


def test_babel_pruning_keeps_root_ru_en_and_their_regions_only(tmp_path: Path) -> None:
    data = tmp_path / "babel" / "locale-data"
    data.mkdir(parents=True)
    kept = ["root", "en", "en_001", "en_150", "en_GB", "en_US", "en_US_POSIX", "ru", "ru_RU", "ru_UA"]
    dropped = ["de", "de_AT", "eo", "es_419", "fr", "uk", "zh_Hant_HK"]
    for name in kept + dropped:
        (data / f"{name}.dat").write_bytes(b"x")
    (data / "LICENSE.unicode").write_text("licence")
    (tmp_path / "babel" / "global.dat").write_bytes(b"x")

    removed = prune_babel_locales(tmp_path)

    assert removed == sorted(dropped)
    assert sorted(p.name for p in data.iterdir()) == sorted([f"{n}.dat" for n in kept] + ["LICENSE.unicode"])
    assert (tmp_path / "babel" / "global.dat").is_file()


def test_pruned_babel_still_serves_ru_and_en(tmp_path: Path) -> None:
    import babel

    shutil.copytree(
        Path(babel.__file__).parent, tmp_path / "babel", ignore=shutil.ignore_patterns("__pycache__")
    )
    prune_babel_locales(tmp_path)
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from babel import Locale, UnknownLocaleError\n"
        "from babel.numbers import format_decimal\n"
        "from babel.support import Translations\n"
        "print(Locale('ru').plural_form(3), Locale('en').plural_form(3))\n"
        "print(Locale.parse('en_GB').territory, Locale.parse('en-US', sep='-').territory,"
        " Locale.parse('ru_RU').territory)\n"
        "print(format_decimal(1234.5, locale='ru'), format_decimal(1234.5, locale='en'))\n"
        "try:\n    Locale.parse('de')\nexcept UnknownLocaleError:\n    print('de gone')\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["few other", "GB US RU", "1\xa0234,5 1,234.5", "de gone"]


def test_remove_distribution_deletes_exactly_its_record(tmp_path: Path) -> None:
    layer = tmp_path / "python"

    def install(dist: str, files: list[str]) -> None:
        info = f"{dist}.dist-info"
        for rel in [*files, f"{info}/METADATA"]:
            (layer / rel).parent.mkdir(parents=True, exist_ok=True)
            (layer / rel).write_text(rel)
        rows = [f"{rel},sha256=x,1" for rel in [*files, f"{info}/METADATA"]] + [f"{info}/RECORD,,"]
        (layer / info / "RECORD").write_text("\n".join(rows) + "\n")

    install(
        "cffi-2.1.1", ["cffi/__init__.py", "cffi/api.py", "_cffi_backend.cpython-313-aarch64-linux-gnu.so"]
    )
    install("google_auth-2.62.2", ["google/auth/__init__.py"])
    install("google_crypto-1.0", ["google/crypto/__init__.py", "bin/crypto-tool", "../outside.txt"])

    assert remove_distribution(layer, "cffi") == 5
    assert remove_distribution(layer, "Google-Crypto") == 4  # names compare normalized
    assert remove_distribution(layer, "not-installed") == 0

    left = sorted(p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file())
    assert left == [
        "google/auth/__init__.py",
        "google_auth-2.62.2.dist-info/METADATA",
        "google_auth-2.62.2.dist-info/RECORD",
    ]
    assert not (layer / "cffi").exists() and not (layer / "bin").exists()  # emptied dirs go
    assert (tmp_path / "outside.txt").is_file()  # never anything outside the layer


@pytest.fixture(scope="module")
def runtime_probe(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict[str, list[str]]:
    """What the functions import: every genbot module, the handlers, a Gemini call (to a stub).

    Runs on this venv (CPython 3.11, x86_64: the layer's own wheels cannot be imported here),
    with the layer's genbot first on sys.path and no editable install of genbot_local.
    """
    tmp = tmp_path_factory.mktemp("probe")
    checkout = _copy_checkout(repo_root, tmp / "repo")
    layer = build_layer(checkout, with_deps=False).path / "python"
    paths = [
        str(layer),
        sysconfig.get_path("purelib"),
        sysconfig.get_path("platlib"),
        str(repo_root / "functions"),
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "AWS_ENDPOINT"))},
        "AWS_DEFAULT_REGION": "us-east-1",
        "BOT_TOKEN": "7000000001:probe",
        "WEBHOOK_SECRET": "probe",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUNTIME_PROBE, *paths],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    probed: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    assert probed["genbot"] == [str(layer / "genbot" / "__init__.py")]
    return probed


def test_the_layers_genbot_never_imports_genbot_local(runtime_probe: dict[str, list[str]]) -> None:
    assert runtime_probe["errors"] == []  # every genbot module imports without the local stack
    assert not [m for m in runtime_probe["modules"] if m.split(".")[0] == "genbot_local"]


def test_babel_keeps_the_languages_genbot_speaks(runtime_probe: dict[str, list[str]]) -> None:
    assert sorted(BABEL_LOCALES) == sorted(runtime_probe["languages"])


def test_no_function_imports_the_pruned_distributions(runtime_probe: dict[str, list[str]]) -> None:
    # cryptography is google-auth's, for service accounts, Vertex AI and mTLS only
    assert runtime_probe["gemini"] == ["ok"]
    assert {m.split(".")[0] for m in runtime_probe["modules"]}.isdisjoint(UNUSED_MODULES)
    assert set(UNUSED_DISTRIBUTIONS) <= UNUSED_MODULES


# -- bytecode ---------------------------------------------------------------------------------------


def test_bytecode_is_unchecked_hash_cpython_313_where_lambda_loads_it(
    tmp_path: Path, python313: Path
) -> None:
    python = tmp_path / "python"
    (python / "pkg").mkdir(parents=True)
    (python / "pkg" / "__init__.py").write_text("")
    (python / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (python / "top.py").write_text("import pkg.mod\n")

    assert compile_bytecode(python, python313) == 3

    for source in (python / "pkg" / "__init__.py", python / "pkg" / "mod.py", python / "top.py"):
        header = _pyc(source).read_bytes()[:16]
        assert header[:4] == MAGIC_313
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH
    # CPython 3.13 uses the pyc without checking the source (so a changed source goes unseen),
    # and the code says where it lives on Lambda
    (python / "pkg" / "mod.py").write_text("VALUE = 2\n")
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(python)!r})\n"
        "sys.dont_write_bytecode = True\n"
        "import marshal, pkg.mod\n"
        "print(pkg.mod.VALUE)\n"
        "print(marshal.loads(open(pkg.mod.__cached__, 'rb').read()[16:]).co_filename)\n"
    )
    out = subprocess.run(
        [str(python313), "-I", "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["1", "/opt/python/pkg/mod.py"]


def test_compile_errors_fail_the_build(tmp_path: Path, python313: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(BundlingError, match="compiling the layer's bytecode"):
        compile_bytecode(tmp_path, python313)


def test_no_cpython_313_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_python(monkeypatch, tmp_path)
    with pytest.raises(BundlingError) as error:
        find_python()
    message = str(error.value)
    assert "CPython 3.13 is needed" in message
    assert f"{sys.executable} (cpython-3{sys.version_info.minor})" in message
    assert f"{tmp_path / 'py313'} (does not run)" in message
    assert "uv python install 3.13" in message and PYTHON_ENV in message and "bundle=false" in message


def test_an_explicit_interpreter_is_the_only_one_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PYTHON_ENV, sys.executable)  # a 3.11: wrong, even if a 3.13 is installed
    with pytest.raises(BundlingError, match=re.escape(f"(tried: {sys.executable} (cpython-311))")):
        find_python()


def test_a_full_build_without_cpython_313_fails_before_installing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, checkout: Path
) -> None:
    _no_python(monkeypatch, tmp_path)
    build_dir = tmp_path / "build"
    with pytest.raises(BundlingError, match=r"CPython 3\.13 is needed"):
        build_layer(checkout, with_deps=True, build_dir=build_dir)
    assert not build_dir.exists() or not list(build_dir.iterdir())  # nothing downloaded

    # a sources-only layer does not need it
    assert (build_layer(checkout, with_deps=False, build_dir=build_dir).path / "python" / "genbot").is_dir()


# -- the real thing ---------------------------------------------------------------------------------


@pytest.mark.infra
def test_real_bundling_installs_pruned_compiled_aarch64_cp313_wheels(checkout: Path) -> None:
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
    assert not list(python.glob("genbot_local*"))

    # pruned: Babel's other locales, the distributions no function imports, console scripts
    dats = {p.stem for p in (python / "babel" / "locale-data").glob("*.dat")}
    assert {"root", "en", "en_001", "en_GB", "en_US", "ru", "ru_RU"} <= dats
    assert {d.split("_")[0] for d in dats} == {"root", *BABEL_LOCALES}
    assert (python / "babel" / "global.dat").is_file()
    top_level = {p.name.split(".")[0].split("-")[0].lower() for p in python.iterdir()}
    assert top_level.isdisjoint(UNUSED_MODULES)
    assert "google" in top_level and "google_auth" in top_level  # its dependant stays
    assert not (python / "bin").exists()

    # every module has the unchecked-hash CPython 3.13 pyc Lambda loads from /opt/python
    sources = list(python.rglob("*.py"))
    assert len(sources) > 1000
    for source in sources:
        header = _pyc(source).read_bytes()[:8]
        assert header == MAGIC_313 + UNCHECKED_HASH.to_bytes(4, "little"), source
    assert not [p for p in python.rglob("*.pyc") if p.parent.name != "__pycache__" or CACHE_TAG not in p.name]

    # the target: 120 MB unzipped, bytecode included (Lambda's limit is 250 MB with the functions)
    size = sum(p.stat().st_size for p in python.rglob("*") if p.is_file())
    assert size <= LIMIT, f"layer is {size / 1e6:.1f} MB"


def test_pruning_drops_data_no_function_reads(tmp_path: Path) -> None:
    from infra.bundling import UNUSED_PATHS, prune_dependencies

    python = tmp_path / "python"
    for rel in (
        "netaddr/eui/oui.txt",
        "netaddr/eui/iab.idx",
        "netaddr/tests/test_ip.py",
        "netaddr/ip/__init__.py",
    ):
        (python / rel).parent.mkdir(parents=True, exist_ok=True)
        (python / rel).write_text("x")
    (python / "babel/locale-data").mkdir(parents=True)

    prune_dependencies(python)

    assert not (python / "netaddr/eui/oui.txt").exists() and not (python / "netaddr/tests").exists()
    assert (python / "netaddr/ip/__init__.py").exists()  # the code itself stays
    assert "netaddr/eui/oui.txt" in UNUSED_PATHS
