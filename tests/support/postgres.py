"""PostgreSQL's own views of the statements it ran: its log file and sqlcommenter comments."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support.stack import DATABASE_URL


def postgres_log() -> Path:
    """The cluster's log file as pg_lsclusters reports it (.ci/services.sh's Debian cluster)."""
    port = DATABASE_URL.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[2] == port:
            return Path(fields[6])
    pytest.fail(f"no PostgreSQL cluster on port {port} in pg_lsclusters:\n{out}", pytrace=False)


def slow_statements(log: Path, offset: int, marker: str) -> list[str]:
    """Lines of ``log`` after ``offset`` that record a statement's duration and contain ``marker``."""
    with log.open(errors="replace") as f:
        f.seek(offset)
        return [line for line in f if "duration:" in line and marker in line]


def sql_comment(text: str) -> dict[str, str]:
    """The sqlcommenter pairs at the end of ``text``, decoded."""
    found = re.search(r"/\*((?:[\w.%-]+='[^']*',?)+)\*/\s*$", text)
    assert found, text
    return {k: unquote(v) for k, v in re.findall(r"([\w.%-]+)='([^']*)'", found.group(1))}
