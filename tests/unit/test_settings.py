"""Every environment variable: defaults, precedence, and a clear error for each bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from otel_trainerhub.settings import ENVIRONMENT_VARIABLES, ConfigError, Settings, load_settings

BAD_VALUES = [
    ("OTEL_SERVICE_NAME", "   "),
    ("OTEL_SERVICE_NAME", "web\nINFO forged"),
    ("ENVIRONMENT", ""),
    ("OTEL_RESOURCE_ATTRIBUTES", "team"),
    ("OTEL_RESOURCE_ATTRIBUTES", "bad key=1"),
    ("OTEL_SDK_DISABLED", "maybe"),
    ("OTEL_TRACES_EXPORTER", "jaeger"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:21"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:99999"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
    ("OTEL_TRACES_SAMPLER", "sometimes"),
    ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ("OTEL_TRACES_SAMPLER_ARG", "nan"),
    ("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "django,mysql"),
    ("OTEL_TRAINERHUB_UNTRACED_PATHS", "health/"),
    ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
    ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-1"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "10"),
    ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes"),
    ("PERFORMANCE_MONITORING_ENABLED", "yes please"),
    ("SLOW_REQUEST_THRESHOLD", "5s"),
    ("SLOW_REQUEST_THRESHOLD", "-1"),
    ("SLOW_REQUEST_THRESHOLD", "inf"),
    ("SLOW_REQUEST_ROUTE_THRESHOLDS", "api/reports/revenue/"),
    ("SLOW_REQUEST_ROUTE_THRESHOLDS", "api/reports/revenue/=soon"),
    ("SLOW_REQUEST_ROUTE_THRESHOLDS", "=3"),
    ("N_PLUS_ONE_THRESHOLD", "1"),
    ("N_PLUS_ONE_THRESHOLD", "2.5"),
    ("SLOW_QUERY_THRESHOLD", "100ms"),
    ("SLOW_QUERY_THRESHOLD", "0"),
    ("OTEL_TRAINERHUB_SQL_COMMENTS", "traceparent"),
    ("OTEL_TRAINERHUB_VALUE_LENGTH_LIMIT", "64"),
    ("LOG_LEVEL", "VERBOSE"),
    ("LOG_FORMAT", "xml"),
    ("OTEL_TRAINERHUB_OTLP_LOG_LEVEL", "LOUD"),
    ("OTEL_TRAINERHUB_HTTP_SERVER_METRICS", "sometimes"),
    ("TRACE_VIEW_URL", "http://127.0.0.1:16686/trace/"),
    ("TRACE_VIEW_URL", "jaeger/{trace_id}"),
    ("TRACE_VIEW_URL", "http://x/{trace_id}/{span_id}"),
    ("LOG_FILE_MAX_BYTES", "10MB"),
    ("LOG_FILE_BACKUP_COUNT", "0"),
    ("LOG_TRUSTED_PROXY_HEADER", "X-Forwarded-For: 1.2.3.4"),
    ("LOG_TRUSTED_PROXY_COUNT", "0"),
    ("DEBUG_LOGGING", "2"),
    ("HEALTH_CHECK_ENABLED", "enabled"),
    ("HEALTH_CHECK_TIMEOUT", "5"),
    ("HEALTH_CHECK_CACHE_SECONDS", "-1"),
    ("SENTRY_TRACES_SAMPLE_RATE", "100%"),
    ("SENTRY_PROFILES_SAMPLE_RATE", "-0.1"),
    ("OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT", "0"),
    ("OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT", "forever"),
    ("OTEL_METRICS_EXPORTER", "prometheus"),
    ("OTEL_LOGS_EXPORTER", "console"),
    ("OTEL_TRAINERHUB_INTERNAL_ERRORS", "ignore"),
    *[
        (f"OTEL_EXPORTER_OTLP_{signal}_{option}", value)
        for signal in ("TRACES", "METRICS", "LOGS")
        for option, value in (("ENDPOINT", "collector:4318"), ("PROTOCOL", "http/json"), ("TIMEOUT", "-1"))
    ],
]
# Headers carry credentials: their errors name the variable and hide the value.
HIDDEN_BAD_VALUES = [(name, "x-sentry-auth") for name in ("OTEL_EXPORTER_OTLP_HEADERS", *(f"OTEL_EXPORTER_OTLP_{s}_HEADERS" for s in ("TRACES", "METRICS", "LOGS")))]


def test_every_variable_has_a_bad_value_case() -> None:
    covered = {name for name, _ in BAD_VALUES + HIDDEN_BAD_VALUES} | {"RELEASE_VERSION", "OTEL_TRAINERHUB_SPAN_FILE", "LOG_FILE", "MONITORING_KEY", "SENTRY_DSN"}
    assert covered == set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_bad_value_names_variable_value_and_what_is_accepted(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    message = str(info.value)
    assert info.value.name == name
    assert message.startswith(f"{name}={value!r} is not valid: expected ")
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(("name", "value"), HIDDEN_BAD_VALUES)
def test_bad_headers_name_the_variable_and_hide_the_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    assert info.value.name == name
    assert str(info.value).startswith(f"{name}='<hidden>' is not valid: expected ")
    assert value not in str(info.value)


# Keyword options go through the parser of their variable: the same check, the same words.
BAD_OPTIONS = [
    ("sampler", "bogus", "OTEL_TRACES_SAMPLER", "bogus"),
    ("slow_request_threshold", -1, "SLOW_REQUEST_THRESHOLD", "-1"),
    ("exporter_endpoint", "ftp://x", "OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
    ("n_plus_one_threshold", 1, "N_PLUS_ONE_THRESHOLD", "1"),
    ("untraced_paths", ("health/",), "OTEL_TRAINERHUB_UNTRACED_PATHS", "health/"),
    ("resource_attributes", {"bad key": "1"}, "OTEL_RESOURCE_ATTRIBUTES", "bad key=1"),
    ("shutdown_timeout", 0, "OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT", "0"),
    ("performance_monitoring_enabled", "maybe", "PERFORMANCE_MONITORING_ENABLED", "maybe"),
]


@pytest.mark.parametrize(("option", "value", "variable", "raw"), BAD_OPTIONS)
def test_bad_keyword_option_is_refused_like_its_variable(option: str, value: object, variable: str, raw: str) -> None:
    with pytest.raises(ConfigError) as from_option:
        load_settings({}, **{option: value})
    with pytest.raises(ConfigError) as from_environment:
        load_settings({variable: raw})
    assert from_option.value.name == option
    assert str(from_option.value) == f"{option}={value!r} is not valid: expected {from_environment.value.accepted}"


def test_keyword_option_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^n_plus_one_threshold=True is not valid: expected a value as N_PLUS_ONE_THRESHOLD takes"):
        load_settings({}, n_plus_one_threshold=True)


def test_per_signal_otlp_options_beat_the_general_ones() -> None:
    settings = load_settings(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=a",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom/v1/traces",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://metrics:4317",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "3",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-team=logs",
        }
    )
    traces, metrics, logs = (settings.otlp_target(s) for s in ("traces", "metrics", "logs"))
    assert traces is not None and metrics is not None and logs is not None
    assert (traces.endpoint, traces.protocol, dict(traces.headers), traces.timeout) == (
        "http://traces:9999/custom/v1/traces", "http/protobuf", {"x-team": "a"}, 10.0
    )  # used as given, path included
    assert (metrics.endpoint, metrics.protocol) == ("http://metrics:4317", "grpc")
    assert (logs.endpoint, dict(logs.headers), logs.timeout) == ("http://collector:4318/v1/logs", {"x-team": "logs"}, 3.0)


def test_a_signal_endpoint_alone_exports_that_signal_only() -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert settings.otlp_target("traces") is not None
    assert settings.otlp_target("metrics") is None and settings.otlp_target("logs") is None
    assert load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_LOGS_EXPORTER": "none"}).otlp_target("logs") is None


def test_a_per_signal_http_endpoint_without_its_path_cannot_work() -> None:
    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_METRICS_ENDPOINT='http://c:4318' is not valid: expected the signal's full URL"):
        load_settings({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318"})


def test_sentry_dsn_error_never_echoes_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"SENTRY_DSN": "not-a-dsn-but-secret-ish"})
    assert "SENTRY_DSN" in str(info.value)
    assert "secret-ish" not in str(info.value)


def test_batch_larger_than_queue_is_refused() -> None:
    with pytest.raises(ConfigError, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE='600' is not valid: expected at most OTEL_BSP_MAX_QUEUE_SIZE"):
        load_settings({"OTEL_BSP_MAX_QUEUE_SIZE": "500", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "600"})


def test_defaults_follow_the_guide() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.slow_request_threshold == 5.0
    assert settings.n_plus_one_threshold == 5
    assert settings.environment == "production"
    assert settings.log_format == "json"
    assert settings.performance_monitoring_enabled is True
    assert settings.health_check_enabled is True
    assert settings.exporter_protocol == "http/protobuf"
    assert settings.untraced_paths == ("/health/", "/readiness/", "/liveness/", "/api/system-info/", "/metrics")


def test_keyword_beats_environment_beats_default() -> None:
    environ = {"SLOW_REQUEST_THRESHOLD": "2.5", "OTEL_SERVICE_NAME": "web", "LOG_LEVEL": "debug"}
    settings = load_settings(environ, slow_request_threshold=1.0)
    assert settings.slow_request_threshold == 1.0
    assert settings.service_name == "web"
    assert settings.log_level == "DEBUG"
    assert settings.n_plus_one_threshold == 5


def test_parsed_values() -> None:
    settings = load_settings(
        {
            "OTEL_RESOURCE_ATTRIBUTES": "team=payments, region=eu%2Dwest",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "Redis, urllib3",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-sentry-auth=sentry sentry_key=abc",
            "OTEL_SDK_DISABLED": "TRUE",
            "SENTRY_DSN": "http://key@127.0.0.1:9000/1",
        }
    )
    assert settings.resource_attributes == {"team": "payments", "region": "eu-west"}
    assert settings.exporter_endpoint == "http://collector:4318"
    assert settings.disabled_instrumentations == frozenset({"redis", "urllib3"})
    assert settings.sdk_disabled is True
    assert "abc" not in repr(settings) and "key@" not in repr(settings)


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="slow_threshold"):
        load_settings({}, slow_threshold=3)


@pytest.mark.parametrize("entry", ["import otel_trainerhub.auto", "import otel_trainerhub; otel_trainerhub.configure()"])
def test_bad_value_stops_start_up_with_one_line(entry: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", entry],
        env={"SLOW_REQUEST_THRESHOLD": "fast", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    if entry.endswith("auto"):
        assert result.stderr.strip().splitlines() == [
            "otel_trainerhub: configuration error: SLOW_REQUEST_THRESHOLD='fast' is not valid: expected a number > 0"
        ]
    else:  # the explicit API raises to its caller
        assert "ConfigError: SLOW_REQUEST_THRESHOLD='fast'" in result.stderr


@pytest.mark.parametrize(
    ("log_file", "reason"),
    [("/proc/no-such-dir/app.log", "No such file or directory"), ("/", "Is a directory"), ("/etc/hostname/app.log", "/etc/hostname is not a directory")],
)
def test_an_unusable_log_file_stops_start_up_with_one_line_naming_log_file(log_file: str, reason: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import otel_trainerhub.auto"],
        env={"LOG_FILE": log_file, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"otel_trainerhub: configuration error: LOG_FILE={log_file!r} is not valid: expected a file this process can create and write ({reason})"
    ]


@pytest.mark.parametrize(
    ("environment", "kept"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),  # spanmetrics see every server span
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, True),
        ({}, True),  # no collector at all
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRAINERHUB_HTTP_SERVER_METRICS": "on"}, True),
        ({"OTEL_TRAINERHUB_HTTP_SERVER_METRICS": "off"}, False),
    ],
)
def test_django_server_metrics_are_kept_only_where_spanmetrics_cannot_count_every_request(environment: dict[str, str], kept: bool) -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider

    from otel_trainerhub.instrumentation.django import server_metrics_provider

    provider = MeterProvider()
    chosen = server_metrics_provider(load_settings(environment), provider)
    assert chosen is provider if kept else isinstance(chosen, NoOpMeterProvider)


def test_grpc_without_its_exporter_installed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # grpcio comes only with the [grpc] extra: HTTP export does not pull it into a project.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not valid: expected http/protobuf, or grpc with its exporter installed: pip install 'otel-trainerhub\[grpc\]'"):
        load_settings({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    with pytest.raises(ConfigError, match=r"^OTEL_EXPORTER_OTLP_LOGS_PROTOCOL='grpc'"):
        load_settings({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"})
    assert load_settings({}).exporter_protocol == "http/protobuf"


def test_the_package_installs_without_grpc() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "grpc" in d]
    assert any("opentelemetry-exporter-otlp-proto-grpc" in d for d in project["optional-dependencies"]["grpc"])
