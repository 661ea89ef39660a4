"""Cold import of the webhook function vs bare aiogram, measured in the same run.

Each sample is a fresh interpreter (a cold start without SnapStart): (a) ``import aiogram``
+ ``Dispatcher()``; (b) importing ``functions/webhook/handler.py`` as Lambda does, which
builds our Dispatcher with every router. Samples alternate so machine noise hits both.
Prints medians (wall and CPU time) and the ratio (target <= 1.1), then what the handler
imports beyond bare aiogram (``python -X importtime``): by package, and our own modules.

Bytecode is cached in a private directory (``PYTHONPYCACHEPREFIX``), written by one warm-up
run of each: ``PYTHONDONTWRITEBYTECODE`` (set to any value, even "0") would otherwise have
every sample compile aiogram from source, which measures the compiler, not the import.

    .venv/bin/python bench/cold_import.py [--runs 7] [--tracing]

``--tracing`` imports as in Lambda with active tracing (X-Ray SDK and patching included).
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers/shared/python"
HANDLER = ROOT / "functions/webhook/handler.py"
PYCACHE = Path(tempfile.gettempdir()) / f"genbot-bench-pycache-{sysconfig.get_python_version()}"

BARE = "import aiogram\nfrom aiogram import Dispatcher\nDispatcher()\n"
OURS = (
    "import importlib.util, sys\n"
    f"sys.path.insert(0, {str(LAYER)!r})\n"
    f"spec = importlib.util.spec_from_file_location('handler', {str(HANDLER)!r})\n"
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
)
TIMED = (
    "import time\n_t, _c = time.perf_counter(), time.process_time()\n{body}\n"
    "print(time.perf_counter() - _t, time.process_time() - _c)\n"
)


def environment(tracing: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "BOT_TOKEN": "7000000001:BENCH-token",
        "WEBHOOK_SECRET": "bench",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if tracing:  # as in Lambda with active tracing: Powertools' Tracer is enabled
        del env["POWERTOOLS_TRACE_DISABLED"]
        env["LAMBDA_TASK_ROOT"] = str(ROOT)
    return env


def sample(body: str, env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", TIMED.format(body=body)], capture_output=True, text=True, env=env, check=True
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def importtime(body: str, env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Module -> (self us, cumulative us), from ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", body], capture_output=True, text=True, env=env, check=True
    )
    rows: dict[str, tuple[int, int]] = {}
    for line in out.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            rows[parts[2].strip()] = (int(parts[0].split(":")[1]), int(parts[1]))
    return rows


def report_imports(env: dict[str, str]) -> None:
    bare, ours = importtime(BARE, env), importtime(OURS, env)
    extra = {name: times for name, times in ours.items() if name not in bare}
    total = sum(self_us for self_us, _ in extra.values())
    print(f"imported beyond bare aiogram: {len(extra)} modules, {total / 1000:.0f} ms self time (one run)")
    by_package: collections.Counter[str] = collections.Counter()
    for name, (self_us, _) in extra.items():
        by_package[name.split(".")[0]] += self_us
    packages = ", ".join(f"{p} {us / 1000:.1f}" for p, us in by_package.most_common(10))
    print(f"  by package (self ms): {packages}")
    own = sorted(((s, c, n) for n, (s, c) in ours.items() if n.split(".")[0] == "genbot"), reverse=True)
    print("  heaviest genbot modules (self ms / cumulative ms):")
    for self_us, cumulative, name in own[:10]:
        print(f"    {self_us / 1000:7.1f} / {cumulative / 1000:7.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="samples of each, alternating (>= 7)")
    parser.add_argument("--tracing", action="store_true", help="as in Lambda with active X-Ray tracing")
    args = parser.parse_args()
    env = environment(args.tracing)
    sample(BARE, env), sample(OURS, env)  # write the bytecode caches once
    bare, ours = [], []
    for _ in range(args.runs):
        bare.append(sample(BARE, env))
        ours.append(sample(OURS, env))
    (bw, bc), (ow, oc) = ([statistics.median(x[i] for x in s) for i in (0, 1)] for s in (bare, ours))
    print(f"cold import, median of {args.runs} alternating fresh interpreters (wall / CPU):")
    print(f"  bare aiogram + Dispatcher(): {bw * 1000:6.0f} ms / {bc * 1000:6.0f} ms")
    print(f"  webhook handler module:      {ow * 1000:6.0f} ms / {oc * 1000:6.0f} ms")
    print(f"  ratio (target <= 1.1):       {ow / bw:6.2f}    / {oc / bc:6.2f}")
    report_imports(env)


if __name__ == "__main__":
    main()
