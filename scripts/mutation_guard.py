"""The test command of a mutation run with a coverage map: only the guard tests that run the line.

    python scripts/mutation_guard.py MODULE_FILE MAP.json -- PYTEST_ARGS...

cosmic-ray runs this in the clone it mutated. The mutated lines are read from ``git diff`` of
MODULE_FILE; MAP.json (``scripts/mutation.py`` builds it before the run, with coverage's
per-test contexts) says which guard tests execute each line. Only those run (``pytest -x
PYTEST_ARGS node-ids``): a test that never executes a line can't notice a change to it. A line no
test executes is a survivor without a run (exit 0); a line outside any test's run (module level:
imports, constants, class bodies, executed at import) runs the whole guard.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def changed_lines(module: str) -> set[int]:
    """The lines of ``module`` the mutation changed (the new side of ``git diff -U0``)."""
    diff = subprocess.run(
        ["git", "diff", "-U0", "--", module], capture_output=True, text=True, check=True
    ).stdout
    lines: set[int] = set()
    for start, count in HUNK.findall(diff):
        first, n = int(start), int(count or 1)
        lines.update(range(first, first + max(n, 1)))
    return lines


def chosen_tests(coverage_map: dict[str, list[str]], lines: set[int]) -> list[str] | None:
    """The node ids that execute any of ``lines``; None: run them all (a module-level line, or a
    line coverage can't place)."""
    whole = set(coverage_map.get("module_level", []))
    by_line: dict[str, list[str]] = coverage_map["lines"]  # type: ignore[assignment]
    if not lines or any(str(line) in whole for line in lines):
        return None
    tests: list[str] = []
    for line in sorted(lines):
        for test in by_line.get(str(line), []):
            if test not in tests:
                tests.append(test)
    return tests


def main(argv: list[str]) -> int:
    if "--" not in argv:
        raise SystemExit(__doc__)
    split = argv.index("--")
    module, map_file = argv[:split]
    pytest_args = argv[split + 1 :]
    coverage_map = json.loads(Path(map_file).read_text())
    tests = chosen_tests(coverage_map, changed_lines(module))
    if tests == []:
        sys.stdout.write(f"no guard test executes the changed lines of {module}: survived\n")
        return 0
    command = [sys.executable, "-m", "pytest", *pytest_args]
    if tests is not None:  # the node ids replace the files and the -k selection
        command = [sys.executable, "-m", "pytest", *_options(pytest_args), *tests]
    return subprocess.run(command, check=False).returncode


def _options(pytest_args: list[str]) -> list[str]:
    """``pytest_args`` without the test files and the ``-k`` selection."""
    kept: list[str] = []
    skip = False
    for arg in pytest_args:
        if skip:
            skip = False
            continue
        if arg == "-k":
            skip = True
            continue
        if arg.endswith(".py") or "::" in arg:
            continue
        kept.append(arg)
    return kept


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
