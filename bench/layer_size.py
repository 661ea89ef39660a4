"""Size of the shared Lambda layer as deployed: unzipped, zipped, bytecode, biggest packages.

Builds the layer with its dependencies (or reuses the cached build under ``build/``) through
``infra.bundling.build_layer``, like a synth does. The first build installs the aarch64 wheels
(from uv's cache, or PyPI) and needs a CPython 3.13 for the bytecode. Prints:

- unzipped: bytes summed over the files of ``python/`` (what counts against Lambda's 250 MB
  limit for a function and its layers; the target for this layer is 120 MB);
- zipped: the layer zipped with ``zipfile`` deflate (CDK's own zip may differ by a little);
- the number of ``.pyc`` files and their share of the unzipped size;
- the ten biggest top-level packages by unzipped bytes (``*.dist-info`` folded into one row).

    .venv/bin/python bench/layer_size.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.bundling import build_layer  # noqa: E402

TARGET = 120_000_000


def mb(size: int) -> str:
    return f"{size / 1e6:7.1f} MB ({size / 2**20:6.1f} MiB)"


def top_level(rel: Path) -> str:
    name = rel.parts[0]
    if name.endswith(".dist-info"):
        return "(*.dist-info)"
    return name.split(".")[0] if len(rel.parts) == 1 else name  # six.py, _cffi_backend.*.so


def zipped_size(layer: Path, files: list[Path]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(layer).as_posix())
        return archive.stat().st_size


def main() -> None:
    started = time.perf_counter()
    build = build_layer(ROOT, with_deps=True)
    elapsed = time.perf_counter() - started
    python = build.path / "python"
    files = sorted(p for p in python.rglob("*") if p.is_file())
    sizes = {p: p.stat().st_size for p in files}
    unzipped = sum(sizes.values())
    pyc = [p for p in files if p.suffix == ".pyc"]
    pyc_bytes = sum(sizes[p] for p in pyc)
    packages: Counter[str] = Counter()
    for path, size in sizes.items():
        packages[top_level(path.relative_to(python))] += size

    print(f"layer     {build.path} ({elapsed:.1f} s to build or reuse)")
    print(f"files     {len(files)}")
    headroom = (TARGET - unzipped) / 1e6
    print(f"unzipped  {mb(unzipped)}  (target {TARGET / 1e6:.0f} MB: {headroom:.1f} MB to spare)")
    print(f"zipped    {mb(zipped_size(build.path, files))}")
    print(f".pyc      {len(pyc)} files, {mb(pyc_bytes)} = {pyc_bytes / unzipped:.0%} of unzipped")
    print("biggest top-level packages (unzipped):")
    for name, size in packages.most_common(10):
        print(f"  {name:<24} {mb(size)}")


if __name__ == "__main__":
    main()
