"""The cabinet's first load: the bytes a browser transfers for ``site/``, gzip-compressed.

Follows what a first visit fetches, from ``index.html``: its stylesheet, scripts and module
preloads, then every ES module those import (static ``import ... from "./x.js"``), plus the
``config.json`` a deploy writes (a typical one). Images are left out (the target excludes
them; the site ships none), and so is Telegram's ``telegram-web-app.js``: it is not ours, it
can't be fetched here (no network), and the Telegram client serves it from its cache.
Each file is compressed on its own, as CloudFront compresses each response (gzip; level 6 is
what CDNs use, level 9 shown for the floor). Prints one row per file and the total against the
target (150 KB compressed).

    .venv/bin/python bench/site_size.py
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
TARGET = 150_000
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".avif")
HTML_REFS = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.I)
JS_IMPORTS = re.compile(
    r"""(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*["']([^"']+)["']"""
)
CONFIG = {"api_url": "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/", "bot_username": "genbot"}


def local(ref: str) -> bool:
    return not re.match(r"^[a-z]+:|^//", ref, re.I)


def first_load(site: Path) -> list[Path]:
    """The site's files a first visit fetches, in discovery order."""
    index = site / "index.html"
    found: list[Path] = [index]
    queue = [
        (site / ref.split("?")[0]).resolve() for ref in HTML_REFS.findall(index.read_text()) if local(ref)
    ]
    while queue:
        path = queue.pop(0)
        if path in found or not path.is_file() or path.suffix.lower() in IMAGES:
            continue
        found.append(path)
        if path.suffix == ".js":
            for pair in JS_IMPORTS.findall(path.read_text(encoding="utf-8")):
                ref = pair[0] or pair[1]
                if ref and local(ref):
                    queue.append((path.parent / ref).resolve())
    return found


def gz(data: bytes, level: int) -> int:
    return len(gzip.compress(data, compresslevel=level, mtime=0))


def main() -> int:
    if not (SITE / "index.html").is_file():
        print(f"no {SITE / 'index.html'}", file=sys.stderr)
        return 1
    rows = [(p.relative_to(SITE).as_posix(), p.read_bytes()) for p in first_load(SITE)]
    rows.append(("config.json (written at deploy)", json.dumps(CONFIG).encode()))
    print(f"{'file':<36} {'raw':>9} {'gzip -6':>9} {'gzip -9':>9}")
    total = [0, 0, 0]
    for name, data in rows:
        sizes = (len(data), gz(data, 6), gz(data, 9))
        total = [a + b for a, b in zip(total, sizes, strict=True)]
        print(f"{name:<36} {sizes[0]:>9,} {sizes[1]:>9,} {sizes[2]:>9,}")
    print(f"{'total (' + str(len(rows)) + ' requests)':<36} {total[0]:>9,} {total[1]:>9,} {total[2]:>9,}")
    shipped = sorted(p for p in SITE.rglob("*") if p.is_file())
    unused = [p.relative_to(SITE).as_posix() for p in shipped if p not in first_load(SITE)]
    kb = total[1] / 1000
    print(f"\nfirst load: {kb:.1f} KB gzip-compressed (target <= {TARGET / 1000:.0f} KB, images excluded)")
    print("not counted: https://telegram.org/js/telegram-web-app.js (Telegram's; cached by the client)")
    if unused:
        print(f"shipped but not on the first load: {', '.join(unused)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
