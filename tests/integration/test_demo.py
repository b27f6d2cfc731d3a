"""bin/demo, the README's first command: a step that fails stops everything the demo started,
names the step and exits non-zero (it used to hang with gunicorn left running)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


def test_a_failing_demo_step_is_named_and_leaves_nothing_running(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL", "REDIS_URL", "SENTRY_"))}
    env["DEMO_ROUNDS"] = "not-a-number"  # traffic.py refuses it, after gunicorn has started
    result = subprocess.run(["bash", str(ROOT / "bin" / "demo")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "demo: failed at: " in result.stderr and "traffic.py" in result.stderr, result.stderr[-2000:]
    # gunicorn (master and workers) of this demo run is gone.
    running = subprocess.run(["pgrep", "-f", f"{ROOT}/.venv/bin/gunicorn .*config.wsgi"], capture_output=True, text=True)
    assert running.stdout.strip() == "", running.stdout
