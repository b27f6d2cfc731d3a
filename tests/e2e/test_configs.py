"""The stack's configuration files, checked by the binaries that will run them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.e2e


def _built(script: str, env_var: str) -> str:
    """The cached build (``collector/build*.sh`` prints its path; a warm build is a hash and a stat)."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    result = subprocess.run(["bash", str(ROOT / script)], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _validate(binary: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "validate", "--config", str(config)], capture_output=True, text=True, timeout=120)


def test_the_collector_pipeline_validates_with_the_built_distribution() -> None:
    result = _validate(_built("collector/build.sh", "OTELCOL_BIN"), ROOT / "collector/otelcol-config.yaml")
    assert result.returncode == 0, result.stderr


def test_validation_catches_a_component_the_distribution_lacks(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "collector/otelcol-config.yaml").read_text()
    broken.write_text(text.replace("processors: [memory_limiter, batch]", "processors: [memory_limiter, groupbytrace, batch]", 1))
    assert broken.read_text() != text
    result = _validate(_built("collector/build.sh", "OTELCOL_BIN"), broken)
    assert result.returncode != 0 and "groupbytrace" in result.stderr


def test_the_jaeger_config_validates() -> None:
    result = _validate(_built("collector/build-jaeger.sh", "JAEGER_BIN"), ROOT / "monitoring/jaeger/jaeger.yaml")
    assert result.returncode == 0, result.stderr


def test_the_prometheus_config_passes_promtool() -> None:
    result = subprocess.run(["promtool", "check", "config", str(ROOT / "monitoring/prometheus/prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
