"""Mutation testing of the money code with cosmic-ray (not part of CI: it takes hours).

    .venv/bin/python scripts/mutation.py                 # every module below
    .venv/bin/python scripts/mutation.py ledger settle   # some of them
    .venv/bin/python scripts/mutation.py --report        # the survivors of the last run
    .venv/bin/python scripts/mutation.py --survivors ledger   # only the survivors again (new tests)
    .venv/bin/python scripts/mutation.py --resume jobs        # go on with an interrupted run
    .venv/bin/python scripts/mutation.py --all-mutants jobs   # skip nothing

Each module is mutated in a throwaway clone of this checkout's HEAD (cosmic-ray edits files in
place), one mutant at a time, and the tests that guard it run against each mutant with ``-x``:
a mutant the tests don't notice "survived". The guard test files are copied into the clone from
the working tree, so tests written for survivors count before they are committed. Sessions
(SQLite) and the survivors' diffs are kept in ``.mutation/``; docs/mutation.md says what survived
and why each is killed or harmless.

Mutants that can't change behaviour are marked SKIPPED before the run, unless
``--all-mutants``: those inside type annotations (``x: A | None`` -> ``A - None``): every module
has ``from __future__ import annotations``, so annotations are never evaluated (each one would
still cost a full run of the guard tests); and those of a signature's bare keyword-only marker
(``def f(a, *, b)`` -> ``def f(a, /, b)`` or a syntax error), which parso reports as a ``*``
operator. ``--exclude-operator REGEX`` (any
number of times) also skips cosmic-ray operators by name, with cosmic-ray's own
``cr-filter-operators``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".mutation"
PACKAGE = "layers/shared/python/genbot"
# -x: a killed mutant stops at its first failing test. The plugins the guard tests don't use
# (property-based and API fuzzing, async, runtime type checks) are not loaded: seconds per mutant.
PYTEST = (
    "-x -q -p no:cacheprovider --no-cov -p no:randomly"
    " -p no:hypothesispytest -p no:schemathesis -p no:anyio -p no:typeguard"
)

# module -> (file, the tests that guard it: fast ones, each run once per mutant)
TARGETS: dict[str, tuple[str, list[str]]] = {
    "ledger": (f"{PACKAGE}/ledger/service.py", ["tests/functional/test_ledger.py"]),
    "jobs": (
        f"{PACKAGE}/jobs/service.py",
        [
            "tests/functional/test_job_states.py",
            "tests/functional/test_generation.py",
            "tests/functional/test_no_credit_lost.py",
            "tests/functional/test_chat_answers.py",
            "tests/functional/test_chat_access.py",
            "tests/functional/test_sdk_retries.py",
        ],
    ),
    "settle": (
        f"{PACKAGE}/payments/settle.py",
        ["tests/functional/test_payments_stars.py", "tests/functional/test_payments_yookassa.py"],
    ),
    "refunds": (f"{PACKAGE}/payments/refunds.py", ["tests/functional/test_refunds.py"]),
    "promo": (
        f"{PACKAGE}/payments/promo.py",
        ["tests/functional/test_promo.py", "tests/functional/test_sdk_retries.py"],
    ),
}
# module -> pytest -k of its guard tests, where the whole files cost too much per surviving mutant.
# jobs: not the chaos test (a kill at each of 18 calls of a generation: 54 of its 127 s); every
# path it crosses is also walked by the focused tests of the two files (refund once, lease,
# throttled refund/success/debit, sweep, DLQ).
# promo: of the SDK-retry tests only the promo code's (create's PutItem resent after a lost answer).
SELECT: dict[str, str] = {"jobs": "not chaos", "promo": "not test_sdk_retries or promo"}


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) as (line, column) of every annotation in the source: arguments, returns, x: T."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for a in annotations:
            if a is not None and a.end_lineno is not None and a.end_col_offset is not None:
                spans.append(((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)))
    return spans


def _keyword_only_marker(lines: list[str], row: int, col: int) -> bool:
    """The ``*`` at (row, col) is a signature's bare keyword-only marker (``def f(a, *, b)``)."""
    line = lines[row - 1]
    return line[col : col + 1] == "*" and line[col + 1 :].lstrip()[:1] == ","


def skip_meaningless_mutants(session: Path, source: str) -> int:
    """Mark SKIPPED (cosmic-ray then doesn't run them) the mutants that can't change behaviour:
    inside an annotation, or of a signature's bare ``*`` (parso reports it as an operator)."""
    spans = annotation_spans(source)
    lines = source.splitlines()
    db = sqlite3.connect(session)
    skipped = 0
    with db:
        rows = db.execute(
            "select job_id, start_pos_row, start_pos_col, end_pos_row, end_pos_col from mutation_specs"
            " where job_id not in (select job_id from work_results)"  # only those not run yet
        ).fetchall()
        for job_id, *pos in rows:
            start, end = (pos[0], pos[1]), (pos[2], pos[3])
            if any(lo <= start and end <= hi for lo, hi in spans):
                why = "inside an annotation (never evaluated)"
            elif _keyword_only_marker(lines, *start):
                why = "the keyword-only marker * of a signature (not an operator)"
            else:
                continue
            db.execute(
                "insert or replace into work_results (worker_outcome, output, test_outcome, diff, job_id)"
                " values ('SKIPPED', ?, NULL, NULL, ?)",
                (why, job_id),
            )
            skipped += 1
    db.close()
    return skipped


def run(
    name: str,
    python: str,
    *,
    all_mutants: bool = False,
    exclude: list[str] | None = None,
    survivors_only: bool = False,
    resume: bool = False,
    select: str | None = None,
    only: str | None = None,
    killed_too: bool = False,
    workers: int = 1,
    whole_guard: bool = False,
) -> Path:
    file, tests = TARGETS[name]
    OUT.mkdir(exist_ok=True)
    session = OUT / f"{name}.sqlite"
    source = _source_id(file)
    if survivors_only or resume:
        if not session.exists():
            raise SystemExit(f"{name}: no session to go on with; run it in full first")
        made_on = _session_source(name)
        if made_on is not None and made_on != source:
            raise SystemExit(
                f"{name}: {file} changed since its session was made (its mutants' positions are"
                " of the old file); run it in full again"
            )
    with tempfile.TemporaryDirectory(prefix=f"mutation-{name}-") as tmp:
        clones = [_clone(Path(tmp) / f"repo{i}", tests) for i in range(max(1, workers))]
        clone = clones[0]
        pytest_args = f"{PYTEST} {' '.join(tests)}"
        select = select or SELECT.get(name)
        if select:  # e.g. only the tests written for the survivors: the others let them live already
            pytest_args += f" -k {shlex.quote(select)}"
        command = f"{python} -m pytest {pytest_args}"
        if not whole_guard:  # each mutant runs only the guard tests that execute its line
            coverage_map = coverage_by_line(clone, file, python, tests, select, Path(tmp))
            command = (
                f"{python} {ROOT / 'scripts' / 'mutation_guard.py'} {file} {coverage_map} -- {pytest_args}"
            )
        config = clone / "cosmic-ray.toml"
        ports = [_free_port() for _ in clones] if workers > 1 else []
        config.write_text(
            "[cosmic-ray]\n"
            f'module-path = "{file}"\n'
            "timeout = 300.0\n"
            "excluded-modules = []\n"
            f"test-command = {_toml_string(command)}\n"
            + _distributor(ports)
            + "[cosmic-ray.filters.operators-filter]\n"
            f"exclude-operators = [{', '.join(_toml_string(e) for e in exclude or [])}]\n"
        )
        bin_dir = Path(python).parent
        cosmic = str(bin_dir / "cosmic-ray")
        if survivors_only or resume:  # the same session: its mutants not run yet, or its survivors
            before = OUT / f"{name}-before.sqlite"
            if survivors_only and not before.exists():  # the first full run's figures, kept
                shutil.copyfile(session, before)
            if survivors_only:  # again, with the new tests (those whose diff matches ``only``)
                db = sqlite3.connect(session)
                db.create_function("matches", 1, lambda diff: re.search(only or "", diff or "") is not None)
                outcomes = "('SURVIVED', 'KILLED')" if killed_too else "('SURVIVED')"
                with db:
                    db.execute(f"delete from work_results where test_outcome in {outcomes} and matches(diff)")  # noqa: S608
                db.close()
        else:
            subprocess.run([cosmic, "init", str(config), str(session)], cwd=clone, check=True)
            (OUT / f"{name}.source").write_text(source + "\n")
        if not all_mutants:
            skipped = skip_meaningless_mutants(session, (clone / file).read_text())
            sys.stdout.write(f"{name}: {skipped} mutants in annotations or of a bare * skipped\n")
        if exclude:
            subprocess.run(
                [str(bin_dir / "cr-filter-operators"), str(session), str(config)], cwd=clone, check=True
            )
        if whole_guard:  # (the coverage map's run of the guard has already checked this)
            baseline = subprocess.run([cosmic, "baseline", str(config)], cwd=clone, check=False)
            if baseline.returncode != 0:
                raise SystemExit(f"{name}: the tests fail without any mutation; fix them first")
        servers = [  # one HTTP worker per clone: each mutates its own copy of the module
            subprocess.Popen([cosmic, "http-worker", "--port", str(port)], cwd=c)
            for c, port in zip(clones, ports, strict=False)
        ]
        try:
            for port in ports:
                _wait_for(port)
            subprocess.run([cosmic, "exec", str(config), str(session)], cwd=clone, check=True)
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    return session


def coverage_by_line(
    clone: Path, file: str, python: str, tests: list[str], select: str | None, tmp: Path
) -> Path:
    """Run the guard once under coverage with per-test contexts; write which tests execute each
    line of ``file`` (and which lines run at import, outside any test) to a JSON file."""
    from coverage import CoverageData

    data_file = tmp / "guard.coverage"
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    command += [f"--cov={Path(file).parent}", "--cov-context=test", "--cov-report=", "--cov-fail-under=0"]
    command += [*tests, *(["-k", select] if select else [])]
    env = {**os.environ, "COVERAGE_FILE": str(data_file)}
    if subprocess.run(command, cwd=clone, env=env, check=False).returncode != 0:
        raise SystemExit("the guard tests fail without any mutation; fix them first")
    data = CoverageData(basename=str(data_file))
    data.read()
    (measured,) = [f for f in data.measured_files() if f.endswith(file)]
    lines: dict[str, list[str]] = {}
    module_level: list[int] = []
    for line, contexts in sorted(data.contexts_by_lineno(measured).items()):
        tests_here = sorted({c.rsplit("|", 1)[0] for c in contexts if c})
        if "" in contexts or not tests_here:
            module_level.append(line)
        lines[str(line)] = tests_here
    out = tmp / "coverage-map.json"
    out.write_text(json.dumps({"lines": lines, "module_level": [str(n) for n in module_level]}))
    sys.stdout.write(f"coverage map: {len(lines)} lines of {file}, {len(module_level)} run at import\n")
    return out


def _source_id(file: str) -> str:
    """The git object id of ``file`` as HEAD has it: what a session's mutants were made from."""
    found = subprocess.run(["git", "rev-parse", f"HEAD:{file}"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip()


def _session_source(name: str) -> str | None:
    """The object id a session was made from (None for sessions older than this record)."""
    record = OUT / f"{name}.source"
    return record.read_text().strip() if record.exists() else None


def _clone(where: Path, tests: list[str]) -> Path:
    """A throwaway clone of HEAD with the guard tests as they are now, committed or not."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(where)], check=True)
    for test in tests:
        if test.endswith(".py"):
            shutil.copyfile(ROOT / test, where / test)
    return where


def _distributor(ports: list[int]) -> str:
    """cosmic-ray's ``local`` distributor (one mutant at a time), or ``http`` to the workers."""
    if not ports:
        return '[cosmic-ray.distributor]\nname = "local"\n'
    urls = ", ".join(f'"http://127.0.0.1:{port}"' for port in ports)
    return f'[cosmic-ray.distributor]\nname = "http"\n[cosmic-ray.distributor.http]\nworker-urls = [{urls}]\n'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the mutation worker on port {port} did not start") from None
            time.sleep(0.2)


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def report(session: Path) -> tuple[int, int, int, list[str]]:
    """(mutants, killed, skipped, the survivors' changed lines)."""
    db = sqlite3.connect(session)
    total = db.execute("select count(*) from work_items").fetchone()[0]
    killed = db.execute("select count(*) from work_results where test_outcome = 'KILLED'").fetchone()[0]
    skipped = db.execute("select count(*) from work_results where worker_outcome = 'SKIPPED'").fetchone()[0]
    survivors = []
    for (diff,) in db.execute("select diff from work_results where test_outcome = 'SURVIVED'"):
        changed = [
            line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        survivors.append(" => ".join(part.strip() for part in changed))
    db.close()
    return total, killed, skipped, survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--report", action="store_true", help="only print the last run's survivors")
    parser.add_argument(
        "--all-mutants",
        action="store_true",
        help="also run the mutants in annotations and of a bare * (skipped by default)",
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="re-run only the last run's survivors (after new tests); the old session is kept as NAME-before",
    )
    parser.add_argument(
        "--resume", action="store_true", help="run the mutants an interrupted run didn't get to"
    )
    parser.add_argument(
        "--select",
        metavar="EXPR",
        help="only the guard tests pytest -k EXPR selects (with --survivors: the new tests)",
    )
    parser.add_argument(
        "--only", metavar="REGEX", help="with --survivors: only the survivors whose diff matches REGEX"
    )
    parser.add_argument(
        "--killed-too",
        action="store_true",
        help="with --survivors --only: also the killed mutants that match (a test that kills them changed)",
    )
    parser.add_argument(
        "--exclude-operator",
        action="append",
        default=[],
        metavar="REGEX",
        help="skip cosmic-ray operators matching REGEX, e.g. 'core/NumberReplacer' (cr-filter-operators)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N mutants at a time (cosmic-ray's http distributor, a clone per worker)",
    )
    parser.add_argument(
        "--whole-guard",
        action="store_true",
        help="run every guard test against each mutant (default: only those that execute its line)",
    )
    args = parser.parse_args()
    names = args.modules or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(TARGETS)}")
    for name in names:
        session = OUT / f"{name}.sqlite"
        if not args.report:
            session = run(
                name,
                sys.executable,
                all_mutants=args.all_mutants,
                exclude=args.exclude_operator,
                survivors_only=args.survivors,
                resume=args.resume,
                select=args.select,
                only=args.only,
                killed_too=args.killed_too,
                workers=args.workers,
                whole_guard=args.whole_guard,
            )
        if not session.exists():
            sys.stdout.write(f"{name}: no session yet\n")
            continue
        total, killed, skipped, survivors = report(session)
        pending = total - killed - skipped - len(survivors)
        sys.stdout.write(
            f"{name}: {total} mutants, {killed} killed, {len(survivors)} survived, {skipped} skipped"
            + (f", {pending} not run (yet)" if pending else "")
            + "\n"
        )
        for line in survivors:
            sys.stdout.write(f"  survived: {line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
