"""The reliability and security suite: faults, fuzz, planted secrets and long runs on the real
fixture (gunicorn, Celery prefork, PostgreSQL, Redis), loopback only, every loop bounded.

Each test records the figures it measured with ``record()``: into ``var/reliability.md`` by
default, or into the file named by ``TRAINERHUB_RELIABILITY_RESULTS`` (the committed figures in
``benchmarks/results/reliability.md`` come from
``TRAINERHUB_RELIABILITY_RESULTS=benchmarks/results/reliability.md .venv/bin/python -m pytest tests/reliability``).
"""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = "# Reliability and security suite: measured figures\n\nWritten by `tests/reliability` (see its `__init__.py` for the command).\n"


def record(title: str, method: str, lines: list[str]) -> None:
    """Replace (or add) the section ``title`` of the results file with ``lines``."""
    path = Path(os.environ.get("TRAINERHUB_RELIABILITY_RESULTS") or ROOT / "var" / "reliability.md")
    if not path.is_absolute():
        path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else HEADER
    stamp = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, {os.cpu_count()} CPUs"
    section = f"## {title}\n\n_{stamp}._ {method}\n\n" + "\n".join(lines) + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    text = pattern.sub(lambda _m: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
