"""Every environment variable otel_trainerhub reads, parsed and validated in one place.

Precedence is explicit keyword argument, then environment variable, then default.
A value that cannot be used raises :class:`ConfigError` naming the variable, the
value and what is accepted, so a typo fails at start-up instead of at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from otel_trainerhub.parsing import (  # noqa: I001 (the parsers, one per kind of value)
    INSTRUMENTATION_NAMES, ConfigError, _shown, _bool, _choice, _dsn, _endpoint, _header_name,
    _instrumentation_names, _number, _optional_text, _pairs, _paths, _route_thresholds, _text, _trace_url,
)

__all__ = ["ConfigError", "OtlpTarget", "Settings", "INSTRUMENTATION_NAMES", "SIGNALS", "load_settings"]

T = TypeVar("T")

_SAMPLERS: Final = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_PROTOCOLS: Final = ("http/protobuf", "grpc")
_TRACES_EXPORTERS: Final = ("otlp", "console", "none")
_SIGNAL_EXPORTERS: Final = ("otlp", "none")
#: The three signals, as the OTLP variables spell them (OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT).
SIGNALS: Final = ("traces", "metrics", "logs")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_FORMATS: Final = ("json", "console")
SQL_COMMENT_MODES: Final = ("off", "route", "route+traceparent")

# Paths never traced: probes and scrapes would drown the traces people look at.
DEFAULT_UNTRACED_PATHS: Final = ("/health/", "/readiness/", "/liveness/", "/api/system-info/", "/metrics")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration of one process."""

    service_name: str = "trainerhub"
    environment: str = "production"
    release_version: str = ""
    resource_attributes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    sdk_disabled: bool = False
    traces_exporter: str = "otlp"
    exporter_endpoint: str | None = None
    exporter_protocol: str = "http/protobuf"
    exporter_timeout: float = 10.0
    exporter_headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: per-signal OTLP options (the specification's OTEL_EXPORTER_OTLP_<SIGNAL>_*): each beats
    #: the general one for its signal; a per-signal HTTP endpoint is used as given, path included.
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    traces_protocol: str | None = None
    metrics_protocol: str | None = None
    logs_protocol: str | None = None
    traces_headers: Mapping[str, str] | None = None
    metrics_headers: Mapping[str, str] | None = None
    logs_headers: Mapping[str, str] | None = None
    traces_timeout: float | None = None
    metrics_timeout: float | None = None
    logs_timeout: float | None = None
    metrics_exporter: str = "otlp"
    logs_exporter: str = "otlp"
    #: seconds from the start of a process's shutdown (SIGTERM, exit) to its end, whatever
    #: the collector does; what is not delivered by then is counted as dropped.
    shutdown_timeout: float = 2.0
    #: "raise": internal errors of otel_trainerhub are re-raised instead of swallowed (test suites)
    internal_errors: str = "log"
    span_file: str | None = None
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0
    disabled_instrumentations: frozenset[str] = frozenset()
    untraced_paths: tuple[str, ...] = DEFAULT_UNTRACED_PATHS
    bsp_max_queue_size: int = 2048
    bsp_schedule_delay_ms: int = 1000
    #: The SDK's 512. Batches of 64 were tried against it for the p99 under load: one
    #: interleaved A/B run of benchmarks/load.py suggested 1.44x -> 1.10x of uninstrumented on
    #: the bookings list; a second (4 rounds) showed no p99 difference and 23% fewer requests
    #: per second on the trivial endpoint (more exports). Kept at 512.
    bsp_max_export_batch_size: int = 512
    metric_export_interval_ms: int = 15000
    #: exemplars (a sampled trace id on a histogram bucket) cost a reservoir offer per record,
    #: and nothing in this pipeline shows them: off unless asked for.
    metrics_exemplar_filter: str = "always_off"
    #: the Django instrumentation's own http.server.* metrics: "auto" keeps them only where
    #: the collector's spanmetrics cannot count every request (head sampling, no OTLP traces).
    http_server_metrics: str = "auto"
    performance_monitoring_enabled: bool = True
    slow_request_threshold: float = 5.0
    slow_route_thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    n_plus_one_threshold: int = 5
    #: one statement over this (seconds) is a slow query: flagged, logged, counted
    slow_query_threshold: float = 0.1
    sql_comments: str = "off"  # route (and traceparent) in a comment on each statement: sqlcomments.py
    #: the longest span attribute or log field value (characters); longer ones end in a marker
    value_length_limit: int = 2048
    log_level: str = "INFO"
    #: the lowest level also sent over OTLP (to the collector, and Sentry's logs); every
    #: level still goes to stdout/LOG_FILE. INFO doubles the cost of each request's log line.
    otlp_log_level: str = "WARNING"
    log_format: str = "json"
    log_file: str | None = None
    log_file_max_bytes: int = 10 * 1024 * 1024
    log_file_backup_count: int = 5
    log_trusted_proxy_header: str | None = None
    log_trusted_proxy_count: int = 1
    debug_logging: bool = False
    health_check_enabled: bool = True
    health_check_timeout: float = 2.0
    health_check_cache_seconds: float = 3.0
    monitoring_key: str | None = None
    sentry_dsn: str | None = None
    sentry_traces_sample_rate: float = 0.0
    sentry_profiles_sample_rate: float = 0.0
    trace_view_url: str | None = None

    @property
    def spanmetrics_count_every_request(self) -> bool:
        """Every server span goes to the collector, whose spanmetrics then count every request."""
        return self.otlp_target("traces") is not None and self.sampler in ("always_on", "parentbased_always_on")

    def otlp_target(self, signal: str) -> OtlpTarget | None:
        """Where and how ``signal`` ("traces", "metrics", "logs") is exported over OTLP, or None."""
        chosen = {"traces": self.traces_exporter, "metrics": self.metrics_exporter, "logs": self.logs_exporter}[signal]
        if chosen != "otlp":
            return None
        protocol = getattr(self, f"{signal}_protocol") or self.exporter_protocol
        endpoint = getattr(self, f"{signal}_endpoint")
        if endpoint is None:
            if self.exporter_endpoint is None:
                return None
            endpoint = self.exporter_endpoint if protocol == "grpc" else f"{self.exporter_endpoint}/v1/{signal}"
        headers = getattr(self, f"{signal}_headers")
        timeout = getattr(self, f"{signal}_timeout")
        return OtlpTarget(
            signal=signal,
            endpoint=endpoint,
            protocol=protocol,
            headers=dict(self.exporter_headers if headers is None else headers),
            timeout=self.exporter_timeout if timeout is None else timeout,
        )

    def __repr__(self) -> str:
        # Secrets stay out of reprs, tracebacks and debug output.
        shown = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("monitoring_key", "sentry_dsn") and not f.name.endswith("headers")
        }
        shown["monitoring_key"] = "<set>" if self.monitoring_key else None
        shown["sentry_dsn"] = "<set>" if self.sentry_dsn else None
        for signal in ("exporter", *SIGNALS):
            headers = getattr(self, f"{signal}_headers")
            shown[f"{signal}_headers"] = None if headers is None else sorted(headers)
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


@dataclasses.dataclass(frozen=True, slots=True)
class OtlpTarget:
    """One signal's OTLP destination, resolved from the general and per-signal options."""

    signal: str
    endpoint: str  # the full URL of the signal for http/protobuf, the host URL for grpc
    protocol: str
    headers: Mapping[str, str]
    timeout: float

    def __repr__(self) -> str:
        return f"OtlpTarget({self.signal} {self.protocol} {self.endpoint}, headers={sorted(self.headers)}, timeout={self.timeout:g})"


# variable -> (Settings field, parser). Order is the order of the guide's Configuration section.
_ENV: Final[dict[str, tuple[str, Callable[[str, str], Any]]]] = {
    "OTEL_SERVICE_NAME": ("service_name", _text),
    "ENVIRONMENT": ("environment", _text),
    "RELEASE_VERSION": ("release_version", lambda n, r: r.strip()),
    "OTEL_RESOURCE_ATTRIBUTES": ("resource_attributes", _pairs),
    "OTEL_SDK_DISABLED": ("sdk_disabled", _bool),
    "OTEL_TRACES_EXPORTER": ("traces_exporter", _choice(_TRACES_EXPORTERS)),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("exporter_endpoint", _endpoint),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("exporter_protocol", _choice(_PROTOCOLS)),
    "OTEL_EXPORTER_OTLP_TIMEOUT": ("exporter_timeout", _number(float, minimum=0, inclusive_min=False)),
    "OTEL_EXPORTER_OTLP_HEADERS": ("exporter_headers", _pairs),
    **{
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_{option}": (f"{signal}_{field}", parse)
        for signal in SIGNALS
        for option, field, parse in (
            ("ENDPOINT", "endpoint", _endpoint),
            ("PROTOCOL", "protocol", _choice(_PROTOCOLS)),
            ("HEADERS", "headers", _pairs),
            ("TIMEOUT", "timeout", _number(float, minimum=0, inclusive_min=False)),
        )
    },
    "OTEL_METRICS_EXPORTER": ("metrics_exporter", _choice(_SIGNAL_EXPORTERS)),
    "OTEL_LOGS_EXPORTER": ("logs_exporter", _choice(_SIGNAL_EXPORTERS)),
    "OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT": ("shutdown_timeout", _number(float, minimum=0.1, maximum=60)),
    "OTEL_TRAINERHUB_INTERNAL_ERRORS": ("internal_errors", _choice(("log", "raise"))),
    "OTEL_TRAINERHUB_SPAN_FILE": ("span_file", _optional_text),
    "OTEL_TRACES_SAMPLER": ("sampler", _choice(_SAMPLERS)),
    "OTEL_TRACES_SAMPLER_ARG": ("sampler_arg", _number(float, minimum=0, maximum=1)),
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ("disabled_instrumentations", _instrumentation_names),
    "OTEL_TRAINERHUB_UNTRACED_PATHS": ("untraced_paths", _paths),
    "OTEL_BSP_MAX_QUEUE_SIZE": ("bsp_max_queue_size", _number(int, minimum=1)),
    "OTEL_BSP_SCHEDULE_DELAY": ("bsp_schedule_delay_ms", _number(int, minimum=1)),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("bsp_max_export_batch_size", _number(int, minimum=1)),
    "OTEL_METRIC_EXPORT_INTERVAL": ("metric_export_interval_ms", _number(int, minimum=100)),
    "OTEL_METRICS_EXEMPLAR_FILTER": ("metrics_exemplar_filter", _choice(("always_off", "trace_based", "always_on"))),
    "OTEL_TRAINERHUB_HTTP_SERVER_METRICS": ("http_server_metrics", _choice(("auto", "on", "off"))),
    "PERFORMANCE_MONITORING_ENABLED": ("performance_monitoring_enabled", _bool),
    "SLOW_REQUEST_THRESHOLD": ("slow_request_threshold", _number(float, minimum=0, inclusive_min=False)),
    "SLOW_REQUEST_ROUTE_THRESHOLDS": ("slow_route_thresholds", _route_thresholds),
    "N_PLUS_ONE_THRESHOLD": ("n_plus_one_threshold", _number(int, minimum=2)),
    "SLOW_QUERY_THRESHOLD": ("slow_query_threshold", _number(float, minimum=0, inclusive_min=False)),
    "OTEL_TRAINERHUB_SQL_COMMENTS": ("sql_comments", _choice(SQL_COMMENT_MODES)),
    "OTEL_TRAINERHUB_VALUE_LENGTH_LIMIT": ("value_length_limit", _number(int, minimum=128, maximum=1_000_000)),
    "LOG_LEVEL": ("log_level", _choice(_LOG_LEVELS, lower=False)),
    "LOG_FORMAT": ("log_format", _choice(_LOG_FORMATS)),
    "OTEL_TRAINERHUB_OTLP_LOG_LEVEL": ("otlp_log_level", _choice(_LOG_LEVELS, lower=False)),
    "LOG_FILE": ("log_file", _optional_text),
    "LOG_FILE_MAX_BYTES": ("log_file_max_bytes", _number(int, minimum=1024)),
    "LOG_FILE_BACKUP_COUNT": ("log_file_backup_count", _number(int, minimum=1, maximum=100)),
    "LOG_TRUSTED_PROXY_HEADER": ("log_trusted_proxy_header", _header_name),
    "LOG_TRUSTED_PROXY_COUNT": ("log_trusted_proxy_count", _number(int, minimum=1, maximum=10)),
    "DEBUG_LOGGING": ("debug_logging", _bool),
    "HEALTH_CHECK_ENABLED": ("health_check_enabled", _bool),
    "HEALTH_CHECK_TIMEOUT": ("health_check_timeout", _number(float, minimum=0.1, maximum=2.5)),
    "HEALTH_CHECK_CACHE_SECONDS": ("health_check_cache_seconds", _number(float, minimum=0, maximum=300)),
    "MONITORING_KEY": ("monitoring_key", _optional_text),
    "SENTRY_DSN": ("sentry_dsn", _dsn),
    "SENTRY_TRACES_SAMPLE_RATE": ("sentry_traces_sample_rate", _number(float, minimum=0, maximum=1)),
    "SENTRY_PROFILES_SAMPLE_RATE": ("sentry_profiles_sample_rate", _number(float, minimum=0, maximum=1)),
    "TRACE_VIEW_URL": ("trace_view_url", _trace_url),
}

ENVIRONMENT_VARIABLES: Final = tuple(_ENV)


_FIELD_VARIABLE: Final = {field: (variable, parse) for variable, (field, parse) in _ENV.items()}


def _from_option(field: str, value: Any) -> Any:
    """A keyword option, validated by the parser of its variable (the same messages, naming the option)."""
    variable, parse = _FIELD_VARIABLE[field]
    default = next(f for f in dataclasses.fields(Settings) if f.name == field).default
    if value is None and default is None:
        return None
    try:
        if isinstance(value, Mapping):
            result: dict[str, Any] = {}
            for key, item in value.items():
                result.update(parse(field, f"{key}={item}"))
            return result
        if isinstance(value, bool) and parse is _bool:
            return value
        if isinstance(value, str):
            return parse(field, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return parse(field, repr(value))
        if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
            return parse(field, ",".join(value))
        raise ConfigError(field, value, f"a value as {variable} takes")
    except ConfigError as exc:
        raise ConfigError(field, _shown(field, value if exc.value != "<hidden>" else exc.value), exc.accepted) from None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings: keyword overrides, then ``environ`` (default ``os.environ``), then defaults.

    Both are validated by the same parsers: a bad environment value raises :class:`ConfigError`
    naming the variable, a bad keyword option one naming the option.
    """
    environ = os.environ if environ is None else environ
    unknown = sorted(set(overrides) - set(_FIELD_VARIABLE))
    if unknown:
        raise TypeError(f"configure() got unknown option(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for variable, (field, parse) in _ENV.items():
        raw = environ.get(variable)
        if raw is not None and field not in overrides:
            try:
                values[field] = parse(variable, raw)
            except ConfigError as exc:
                raise ConfigError(variable, _shown(variable, exc.value), exc.accepted) from None
    for field, value in overrides.items():
        values[field] = _from_option(field, value)
    settings = Settings(**values)
    if settings.bsp_max_export_batch_size > settings.bsp_max_queue_size:
        raise ConfigError(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            str(settings.bsp_max_export_batch_size),
            f"at most OTEL_BSP_MAX_QUEUE_SIZE ({settings.bsp_max_queue_size})",
        )
    grpc_variables = [v for v, (f, _) in _ENV.items() if f.endswith("protocol") and getattr(settings, f) == "grpc"]
    if grpc_variables and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        raise ConfigError(grpc_variables[0], "grpc", "http/protobuf, or grpc with its exporter installed: pip install 'otel-trainerhub[grpc]'")
    for signal in SIGNALS:
        target = settings.otlp_target(signal)
        own = getattr(settings, f"{signal}_endpoint")
        # A per-signal endpoint is used as given (the specification): over HTTP, one without
        # its path would be a 404 at every export.
        if target is not None and own is not None and target.protocol != "grpc" and not urlsplit(own).path.strip("/"):
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT",
                own,
                f"the signal's full URL for http/protobuf, e.g. http://collector:4318/v1/{signal}",
            )
    return settings
