"""Cold import of the webhook function vs bare aiogram, measured in the same run.

Each sample is a fresh interpreter (a cold start without SnapStart): (a) ``import aiogram``
+ ``Dispatcher()``; (b) importing ``functions/webhook/handler.py`` as Lambda does, which
builds our Dispatcher with every router. Samples alternate so machine noise hits both.
Prints medians and the ratio (target <= 1.1), plus our heaviest own imports.

    .venv/bin/python bench/cold_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers/shared/python"
HANDLER = ROOT / "functions/webhook/handler.py"

BARE = "import aiogram\nfrom aiogram import Dispatcher\nDispatcher()\n"
OURS = (
    "import importlib.util, sys\n"
    f"sys.path.insert(0, {str(LAYER)!r})\n"
    f"spec = importlib.util.spec_from_file_location('handler', {str(HANDLER)!r})\n"
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
)
TIMED = "import time\n_t = time.perf_counter()\n{body}\nprint(time.perf_counter() - _t)\n"

ENV = {
    **os.environ,
    "AWS_DEFAULT_REGION": "us-east-1",
    "BOT_TOKEN": "7000000001:BENCH-token",
    "WEBHOOK_SECRET": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "PYTHONDONTWRITEBYTECODE": "0",
}


def sample(body: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TIMED.format(body=body)], capture_output=True, text=True, env=ENV, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def own_imports() -> list[tuple[int, str]]:
    """Our modules' self time in microseconds (python -X importtime), heaviest first."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", OURS], capture_output=True, text=True, env=ENV, check=True
    )
    rows = []
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and "genbot" in parts[2]:
            rows.append((int(parts[1].split(":")[-1].strip() or 0), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:8]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    sample(BARE), sample(OURS)  # warm the bytecode caches once
    bare, ours = [], []
    for _ in range(runs):
        bare.append(sample(BARE))
        ours.append(sample(OURS))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare aiogram + Dispatcher(): median {b * 1000:.0f} ms over {runs} runs")
    print(f"webhook handler module:      median {o * 1000:.0f} ms over {runs} runs")
    print(f"ratio (target <= 1.1):       {o / b:.2f}")
    print("heaviest genbot imports (cumulative us, module):")
    for cumulative, name in own_imports():
        print(f"  {cumulative:>8}  {name.strip()}")


if __name__ == "__main__":
    main()
