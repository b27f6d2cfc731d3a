"""The stack's configuration files, checked by the binaries that will run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import ROOT, built

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # a cold machine builds the collector and Jaeger first


def _validate(binary: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "validate", "--config", str(config)], capture_output=True, text=True, timeout=120)


def test_the_collector_pipeline_validates_with_the_built_distribution() -> None:
    result = _validate(built("collector/build.sh", "OTELCOL_BIN"), ROOT / "collector/otelcol-config.yaml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("configs", [["agent.yaml"], ["agent.yaml", "agent-infrastructure.yaml"], ["gateway.yaml"]])
@pytest.mark.parametrize("resolver", ["{static: {hostnames: [127.0.0.1:4417, 127.0.0.1:4427]}}",
                                      "{dns: {hostname: otelcol-gateway.observability.svc.cluster.local, port: '4317'}}"])
def test_the_tier_configs_validate_with_the_built_distribution(configs: list[str], resolver: str, tmp_path: Path) -> None:
    argv = [built("collector/build.sh", "OTELCOL_BIN"), "validate"]
    for name in configs:
        argv += ["--config", str(ROOT / "collector" / name)]
    env = dict(os.environ) | {"GATEWAY_RESOLVER": resolver, "AGENT_QUEUE_DIR": str(tmp_path)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_an_agent_without_gateways_fails_validation_naming_the_resolver(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_RESOLVER"} | {"AGENT_QUEUE_DIR": str(tmp_path)}
    result = subprocess.run([built("collector/build.sh", "OTELCOL_BIN"), "validate", "--config", str(ROOT / "collector/agent.yaml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0 and "resolver" in result.stderr, result.stderr


def test_the_tiers_share_the_single_collectors_policy() -> None:
    """Redaction, RED metrics and the sampling policies are written three times (each config is
    whole, to be copied as it is into a deployment); they must not drift apart."""
    import yaml

    single, agent, gateway, infrastructure = (yaml.safe_load((ROOT / "collector" / n).read_text())
                                              for n in ("otelcol-config.yaml", "agent.yaml", "gateway.yaml", "agent-infrastructure.yaml"))
    for name in ("redaction", "transform/redact_text", "memory_limiter", "batch"):
        assert agent["processors"][name] == single["processors"][name], name
    assert agent["connectors"]["spanmetrics"] == single["connectors"]["spanmetrics"]
    assert gateway["processors"]["tail_sampling"] == single["processors"]["tail_sampling"]
    for name in ("otlp/jaeger", "otlphttp/sentry", "prometheusremotewrite"):
        assert gateway["exporters"][name] == single["exporters"][name], name
    assert infrastructure["receivers"]["prometheus/infrastructure"] == single["receivers"]["prometheus/infrastructure"]
    assert agent["receivers"]["otlp/browser"] == single["receivers"]["otlp/browser"]  # CORS and the body limit
    assert gateway["processors"]["delta_to_cumulative"] == single["processors"]["delta_to_cumulative"]
    # Every span and log record is redacted before it leaves the agent, once: every pipeline
    # that the OTLP receiver feeds redacts, and no two of them take the same signal.
    for config in (agent, single):
        fed = {name: p for name, p in config["service"]["pipelines"].items() if "otlp" in p["receivers"] and not name.startswith("metrics")}
        assert {name.split("/")[0] for name in fed} == {"traces", "logs"} and len(fed) == 2, fed
        assert all("redaction" in p["processors"] for p in fed.values()), fed


def test_validation_catches_a_component_the_distribution_lacks(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "collector/otelcol-config.yaml").read_text()
    broken.write_text(text.replace("processors: [memory_limiter, delta_to_cumulative, batch]", "processors: [memory_limiter, groupbytrace, batch]", 1))
    assert broken.read_text() != text
    result = _validate(built("collector/build.sh", "OTELCOL_BIN"), broken)
    assert result.returncode != 0 and "groupbytrace" in result.stderr


def test_the_jaeger_config_validates() -> None:
    result = _validate(built("collector/build-jaeger.sh", "JAEGER_BIN"), ROOT / "monitoring/jaeger/jaeger.yaml")
    assert result.returncode == 0, result.stderr


def test_the_prometheus_config_passes_promtool() -> None:
    result = subprocess.run(["promtool", "check", "config", str(ROOT / "monitoring/prometheus/prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- alerting, Alertmanager, dashboards ---------------------------------------------------

RULES = ROOT / "monitoring/prometheus/rules"


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, timeout=120)


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = _run("promtool", "check", "rules", *map(str, sorted(RULES.glob("*.yml"))))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run("promtool", "test", "rules", *map(str, sorted((RULES / "tests").glob("*.yml"))))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_test_severity_annotations_and_a_runbook_section() -> None:
    import re

    import yaml

    runbook = (ROOT / "docs/runbooks.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in re.findall(r"^## (.+)$", runbook, re.M)}
    tests_text = "\n".join(p.read_text() for p in (RULES / "tests").glob("*.yml"))
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule["alert"]
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
                assert rule["annotations"]["runbook_url"].split("#")[1] in anchors, name
                assert f"alertname: {name}" in tests_text, f"{name} has no promtool test"
                if rule["labels"]["severity"] != "info":
                    assert rule.get("for"), f"{name}: a for: duration avoids flapping"


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(foo[5m] > 1\n")
    assert _run("promtool", "check", "rules", str(broken)).returncode != 0


@pytest.mark.parametrize(("labels", "receivers"), [
    ("severity=critical", "oncall,slack"),
    ("severity=warning", "slack"),
    ("severity=info", "slack-info"),
])
def test_alertmanager_routes_each_severity(labels: str, receivers: str) -> None:
    config = ROOT / "monitoring/alertmanager/alertmanager.yml"
    assert _run("amtool", "check-config", str(config)).returncode == 0
    routed = _run("amtool", "config", "routes", "test", f"--config.file={config}", labels, "alertname=Any")
    assert routed.stdout.strip() == receivers, routed.stdout + routed.stderr


def test_alertmanager_inhibits_the_symptoms_of_a_down_application() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "monitoring/alertmanager/alertmanager.yml").read_text())
    down = next(r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname="ApplicationDown"'])
    assert 'alertname!="ApplicationDown"' in down["target_matchers"] and "stack" in down["equal"]


def test_the_committed_dashboards_are_what_the_code_generates() -> None:
    result = _run(sys.executable, str(ROOT / "monitoring/grafana/dashboards.py"), "--check")
    assert result.returncode == 0, result.stderr


def test_every_dashboard_and_rule_expression_parses(tmp_path: Path) -> None:
    import yaml

    from tests.support.promql import dashboard_expressions

    rules = [{"record": f"panel:{i}", "expr": expr} for i, expr in enumerate(dashboard_expressions().values())]
    assert len(rules) > 30
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = _run("promtool", "check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
