"""Mutation testing of the money code with cosmic-ray (not part of CI: it takes hours).

    .venv/bin/python scripts/mutation.py                 # every module below
    .venv/bin/python scripts/mutation.py ledger settle   # some of them
    .venv/bin/python scripts/mutation.py --report        # the survivors of the last run

Each module is mutated in a throwaway clone of this checkout's HEAD (cosmic-ray edits files in
place), one mutant at a time, and the tests that guard it run against each mutant with ``-x``:
a mutant the tests don't notice "survived". Sessions (SQLite) and the survivors' diffs are kept
in ``.mutation/``; docs/mutation.md says what survived and why each is killed or harmless.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".mutation"
PACKAGE = "layers/shared/python/genbot"
PYTEST = "-x -q -p no:cacheprovider --no-cov -p no:randomly"

# module -> (file, the tests that guard it: fast ones, each run once per mutant)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "ledger": (f"{PACKAGE}/ledger/service.py", ["tests/functional/test_ledger.py"]),
    "jobs": (
        f"{PACKAGE}/jobs/service.py",
        ["tests/functional/test_generation.py", "tests/functional/test_no_credit_lost.py"],
    ),
    "settle": (
        f"{PACKAGE}/payments/settle.py",
        ["tests/functional/test_payments_stars.py", "tests/functional/test_payments_yookassa.py"],
    ),
    "refunds": (f"{PACKAGE}/payments/refunds.py", ["tests/functional/test_refunds.py"]),
    "promo": (f"{PACKAGE}/payments/promo.py", ["tests/functional/test_promo.py"]),
}


def run(name: str, python: str) -> Path:
    file, tests = TARGETS[name]
    OUT.mkdir(exist_ok=True)
    session = OUT / f"{name}.sqlite"
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        config = clone / "cosmic-ray.toml"
        config.write_text(
            "[cosmic-ray]\n"
            f'module-path = "{file}"\n'
            "timeout = 300.0\n"
            "excluded-modules = []\n"
            f'test-command = "{python} -m pytest {PYTEST} {" ".join(tests)}"\n'
            "[cosmic-ray.distributor]\n"
            'name = "local"\n'
        )
        cosmic = str(Path(python).parent / "cosmic-ray")
        subprocess.run([cosmic, "init", str(config), str(session)], cwd=clone, check=True)
        baseline = subprocess.run([cosmic, "baseline", str(config)], cwd=clone, check=False)
        if baseline.returncode != 0:
            raise SystemExit(f"{name}: the tests fail without any mutation; fix them first")
        subprocess.run([cosmic, "exec", str(config), str(session)], cwd=clone, check=True)
    return session


def report(session: Path) -> tuple[int, int, list[str]]:
    """(mutants, killed, the survivors' changed lines)."""
    db = sqlite3.connect(session)
    total = db.execute("select count(*) from work_items").fetchone()[0]
    killed = db.execute("select count(*) from work_results where test_outcome = 'KILLED'").fetchone()[0]
    survivors = []
    for (diff,) in db.execute("select diff from work_results where test_outcome = 'SURVIVED'"):
        changed = [
            line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        survivors.append(" => ".join(part.strip() for part in changed))
    return total, killed, survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--report", action="store_true", help="only print the last run's survivors")
    args = parser.parse_args()
    names = args.modules or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(TARGETS)}")
    for name in names:
        session = OUT / f"{name}.sqlite"
        if not args.report:
            session = run(name, sys.executable)
        if not session.exists():
            sys.stdout.write(f"{name}: no session yet\n")
            continue
        total, killed, survivors = report(session)
        sys.stdout.write(f"{name}: {total} mutants, {killed} killed, {len(survivors)} survived\n")
        for line in survivors:
            sys.stdout.write(f"  survived: {line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
