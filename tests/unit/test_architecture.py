"""The house reads top to bottom: handlers -> bot -> domain services -> store, and ships alone.

Every import in the product (module level or inside a function) is read with ``ast``; an
import of a higher layer, or of the local package, fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers/shared/python/genbot"

# Lower numbers sit lower: a module may import its own package and anything not above it.
RANKS = {
    "vocab": 0,
    "config": 0,
    "observability": 0,
    "resources": 0,
    "releases": 1,  # the operator's view of deployed versions: resources only
    "commands": 1,  # data, translated through i18n
    "i18n": 1,
    "store": 1,
    "stats": 2,  # counters: store only; users, jobs and payments count their facts
    "telegram": 2,
    "providers": 2,
    "ledger": 2,
    "runtime": 3,
    "users": 3,
    "jobs": 4,
    "payments": 4,
    "notify": 4,
    "chat": 4,
    "bot": 5,
    "cabinet": 5,
    "snapstart": 6,
    "cli": 6,
}


def unit_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path`` (or in ``source`` as if it were that file).

    ``from a import b`` gives ``a.b`` (b may be a module: ``from genbot import bot``); relative
    imports are resolved against the file's package (``from ..bot import x`` in
    ``genbot/jobs/worker.py`` is ``genbot.bot.x``).
    """
    inside = path.is_relative_to(PACKAGE.parent)  # else a handler: a top-level module
    package = list(path.relative_to(PACKAGE.parent).parts[:-1]) if inside else []
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_imports_are_read_in_every_form() -> None:
    source = "import genbot.bot\nfrom genbot import bot\nfrom ..bot import menu\nfrom . import service\n"
    read = [module for _, module in imports(PACKAGE / "jobs" / "worker.py", source)]
    assert read == ["genbot.bot", "genbot.bot", "genbot.bot.menu", "genbot.jobs.service"]


def product_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py" or p.parent != PACKAGE]


def test_every_unit_has_a_rank() -> None:
    units = {unit_of(p) for p in product_files()}
    assert units <= set(RANKS), f"give these a place in RANKS: {sorted(units - set(RANKS))}"
    assert set(RANKS) <= units, f"no such units (drop them from RANKS): {sorted(set(RANKS) - units)}"


def test_no_module_imports_a_layer_above_it() -> None:
    upward = []
    for path in product_files():
        unit = unit_of(path)
        for line, module in imports(path):
            parts = module.split(".")
            if parts[0] != "genbot" or len(parts) < 2:
                continue
            target = parts[1]
            if target != unit and RANKS.get(target, 99) > RANKS[unit]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({unit}) imports {module}")
    assert upward == []


def test_the_product_never_imports_the_local_package() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in [*product_files(), *sorted((ROOT / "functions").rglob("*.py"))]
        for line, module in imports(path)
        if module.split(".")[0] == "genbot_local"
    ]
    assert offenders == []
    assert not (PACKAGE / "local").exists() and not (PACKAGE / "providers" / "fake.py").exists()


def test_handlers_only_wire() -> None:
    """A handler file parses the event, calls one domain function and shapes the reply."""
    handlers = sorted((ROOT / "functions").glob("*/handler.py"))
    assert {h.parent.name for h in handlers} >= {"webhook", "generate"}
    for handler in handlers:
        if handler.parent.name == "set_webhook":  # stdlib only, deployed without the layer
            continue
        lines = [
            line
            for line in handler.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert len(lines) <= 40, f"{handler.relative_to(ROOT)} has {len(lines)} lines: move logic into genbot"


def test_the_webhooks_import_leaves_out_what_a_plain_update_doesnt_need() -> None:
    """Cold start: provider SDKs, the YooKassa SDK and the worker stay out of the webhook's import."""
    import subprocess
    import sys

    handler = str(ROOT / "functions/webhook/handler.py")
    heavy = ["openai", "google.genai", "yookassa", "requests", "PIL", "genbot.jobs.worker", "genbot_local"]
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('handler', {handler!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    env = {
        "PYTHONPATH": f"{ROOT / 'layers/shared/python'}",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert done.stdout.strip() == ""
