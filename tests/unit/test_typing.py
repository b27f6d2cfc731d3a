"""The package is typed (py.typed ships): mypy --strict must pass on it."""

import subprocess
import sys
from pathlib import Path


def test_package_passes_mypy_strict() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "otel_trainerhub" / "py.typed").exists()
