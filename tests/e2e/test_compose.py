"""docker-compose.yml, checked without a Docker engine (there is none here): against the
Compose Specification's JSON schema, for files that exist, and for addresses that agree
with the collector, Prometheus, Grafana, nginx and application configs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.stack import ROOT

pytestmark = pytest.mark.e2e

# The Compose Specification's schema as published with docker-compose 1.29.2 (PyPI,
# compose/config/compose_spec.json, Apache-2.0).
SCHEMA = Path(__file__).parent / "data" / "compose_spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = {int(p) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        ports.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    import jsonschema

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    validator.validate(compose)
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["restart"] = ["always"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_the_stack_has_every_component(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {"web", "worker", "beat", "postgres", "redis", "collector", "jaeger", "prometheus",
                                        "alertmanager", "blackbox", "grafana", "nginx"}
    for name, service in compose["services"].items():
        assert service.get("restart") == "unless-stopped", name
    for name in ("web", "worker", "postgres", "redis", "prometheus"):
        assert compose["services"][name]["healthcheck"]["test"], name
    assert set(compose["volumes"]) >= {"postgres-data", "prometheus-data", "grafana-data"}


def test_every_mounted_file_and_build_context_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build["context"])
            assert (context / "Dockerfile").exists(), f"{name}: {context}/Dockerfile"
    documented = (ROOT / "secrets/README.md").read_text()
    for secret in compose["secrets"].values():
        assert Path(secret["file"]).name in documented, f"secrets/README.md does not say how to make {secret['file']}"


def test_secrets_come_from_the_environment_file(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{(\w+)", text)):
        assert re.search(rf"^{variable}=", example, re.M), f"{variable} is not in .env.example"
    assert not re.search(r"(?i)(password|secret|key)\s*[:=]\s*['\"]?(?!\$\{)[A-Za-z0-9]{8,}", text), "a literal secret in docker-compose.yml"


def test_addresses_agree_across_the_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ports = {name: _container_ports(s) for name, s in services.items()}
    addresses: list[tuple[str, str]] = []  # (where, host:port)

    prometheus = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.compose.yml").read_text())
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                addresses.append((f"prometheus job {job['job_name']}", urlsplit(target).netloc if "://" in target else target))
        for relabel in job.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":
                addresses.append((f"prometheus job {job['job_name']} (prober)", relabel["replacement"]))
    for manager in prometheus["alerting"]["alertmanagers"]:
        addresses += [("prometheus alerting", t) for t in manager["static_configs"][0]["targets"]]

    collector_env = services["collector"]["environment"]
    for key in ("JAEGER_OTLP_GRPC_ENDPOINT", "NODE_EXPORTER_TARGET", "REDIS_EXPORTER_TARGET", "POSTGRES_EXPORTER_TARGET"):
        addresses.append((f"collector {key}", collector_env[key]))
    addresses.append(("collector PROMETHEUS_REMOTE_WRITE_URL", urlsplit(collector_env["PROMETHEUS_REMOTE_WRITE_URL"]).netloc))
    # The tiers profile: the agent finds the gateways by their service name, and the
    # application reaches the agent when OTEL_COLLECTOR_ENDPOINT says so.
    agent_env, gateway_env = services["otelcol-agent"]["environment"], services["otelcol-gateway"]["environment"]
    gateways = yaml.safe_load(agent_env["GATEWAY_RESOLVER"])["dns"]
    addresses.append(("agent GATEWAY_RESOLVER", f"{gateways['hostname']}:{gateways['port']}"))
    for key in ("NODE_EXPORTER_TARGET", "REDIS_EXPORTER_TARGET", "POSTGRES_EXPORTER_TARGET"):
        addresses.append((f"agent {key}", agent_env[key]))
    addresses.append(("gateway JAEGER_OTLP_GRPC_ENDPOINT", gateway_env["JAEGER_OTLP_GRPC_ENDPOINT"]))
    addresses.append(("gateway PROMETHEUS_REMOTE_WRITE_URL", urlsplit(gateway_env["PROMETHEUS_REMOTE_WRITE_URL"]).netloc))
    tiered = re.search(r"OTEL_COLLECTOR_ENDPOINT=(\S+) docker compose --profile tiers", (ROOT / "docker-compose.yml").read_text())
    assert tiered, "the compose file says how to run the tiers"
    addresses.append(("the tiers' OTEL_COLLECTOR_ENDPOINT", urlsplit(tiered.group(1)).netloc))
    for name in ("web", "worker", "beat"):
        env = {**compose["x-app"]["environment"], **services[name].get("environment", {})}
        endpoint = re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", env["OTEL_EXPORTER_OTLP_ENDPOINT"])  # ${VAR:-default}: the default
        addresses.append((f"{name} OTEL_EXPORTER_OTLP_ENDPOINT", urlsplit(endpoint).netloc))
        addresses.append((f"{name} DATABASE_URL", urlsplit(env["DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "x")).netloc.split("@")[1]))
        addresses.append((f"{name} REDIS_URL", urlsplit(env["REDIS_URL"]).netloc))
    for source in yaml.safe_load((ROOT / "monitoring/grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]:
        addresses.append((f"grafana datasource {source['name']}", urlsplit(source["url"]).netloc))
    nginx = (ROOT / "monitoring/nginx/compose.conf").read_text()
    addresses.append(("nginx proxy_pass", urlsplit(re.search(r"proxy_pass (\S+);", nginx).group(1)).netloc))  # type: ignore[union-attr]

    wrong = []
    for where, address in addresses:
        host, port = address.rsplit(":", 1)
        if host == "localhost" and where.startswith("prometheus job prometheus"):
            continue  # Prometheus scraping itself
        if host not in services:
            wrong.append(f"{where}: {address}: no service {host!r}")
        elif int(port) not in ports[host] and not (host in ("postgres", "redis") and int(port) in (5432, 6379)):
            wrong.append(f"{where}: {address}: {host} does not expose {port} (it exposes {sorted(ports[host])})")
    assert not wrong, "\n".join(wrong)
    assert len(addresses) > 15


def test_the_collector_and_jaeger_listen_where_compose_says(compose: dict[str, Any]) -> None:
    collector_env = compose["services"]["collector"]["environment"]
    config = (ROOT / "collector/otelcol-config.yaml").read_text()
    # Every variable compose sets is one the pipeline reads.
    for key in collector_env:
        assert f"${{env:{key}" in config, f"collector/otelcol-config.yaml does not read {key}"
    jaeger = (ROOT / "monitoring/jaeger/jaeger.yaml").read_text()
    assert "${env:JAEGER_OTLP_GRPC_PORT:-14317}" in jaeger and "${env:JAEGER_QUERY_PORT:-16686}" in jaeger
    assert compose["services"]["jaeger"]["environment"]["JAEGER_HOST"] == "0.0.0.0"
