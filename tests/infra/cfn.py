"""Left only for ``test_bundling.py``, which still imports ``ROOT`` from here.

Delete this module once that test takes the ``repo_root`` fixture (``tests/infra/conftest.py``)
instead; no other infra test imports it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
