"""Telemetry set-up, done once per process from ``function_app.py``: providers, sampler, processors, exporters.

Idempotent: a second call returns the first call's handle and adds nothing (field case 2: configuring twice must
never duplicate a row). Nothing here runs at import time and nothing touches the network until the first export.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry import _logs, metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from shared.settings import AppSettings
from shared.telemetry import attributes as attr
from shared.telemetry import pipeline, timing
from shared.telemetry.api import emit, meter, register_flusher
from shared.telemetry.own_events import SCHEMA_VIOLATED, SETTING_REJECTED
from shared.telemetry.sampling import SamplingPolicy, TraceSampler
from shared.telemetry.spans import ContextSpanProcessor, KeepErrorsProcessor

DROPPED_METRIC = "game.telemetry.dropped"
"""Counter of telemetry items dropped by sampling, by ``telemetry.kind`` (requests, dependencies, events)."""
_IGNORED_LOGGERS = ("azure", "opentelemetry", "urllib3")


@dataclass(frozen=True)
class Exporters:
    spans: SpanExporter
    logs: LogRecordExporter
    metrics: MetricExporter | None


@dataclass(frozen=True)
class TelemetryHandle:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider


_lock = threading.Lock()
_handle: TelemetryHandle | None = None


def configure(
    settings: AppSettings, *, always_kept: Iterable[str] = (), exporters: Exporters | None = None
) -> TelemetryHandle | None:
    """Set telemetry up once. Without a connection string and without ``exporters`` it stays a no-op."""
    global _handle
    with _lock:
        if _handle is not None:
            return _handle
        exporters = exporters or _azure_exporters(settings)
        if exporters is None:
            pipeline.set_config(_pipeline_config(settings))
            return None
        _handle = _install(settings, SamplingPolicy(settings.sampling_percentage, frozenset(always_kept)), exporters)
    _report_rejected(settings)
    return _handle


def _install(settings: AppSettings, policy: SamplingPolicy, exporters: Exporters) -> TelemetryHandle:
    resource = Resource.create({
        "service.name": settings.role_name,
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
    })
    meter_provider = _meter_provider(resource, exporters.metrics)
    metrics.set_meter_provider(meter_provider)
    timing.reset_instruments()
    dropped = meter().create_counter(DROPPED_METRIC, description="Telemetry items dropped by sampling")
    tracer_provider = TracerProvider(resource=resource, sampler=TraceSampler(policy))
    tracer_provider.add_span_processor(ContextSpanProcessor())
    tracer_provider.add_span_processor(KeepErrorsProcessor(
        BatchSpanProcessor(exporters.spans, schedule_delay_millis=1000),
        lambda table: dropped.add(1, {"telemetry.kind": table}),
    ))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporters.logs, schedule_delay_millis=1000))
    _logs.set_logger_provider(logger_provider)
    pipeline.set_config(_pipeline_config(settings, lambda name: dropped.add(1, {"telemetry.kind": "events"})))
    _bridge_python_logging(logger_provider)
    for provider in (tracer_provider, logger_provider, meter_provider):
        register_flusher(provider.force_flush)
    return TelemetryHandle(tracer_provider, logger_provider, meter_provider)


def _meter_provider(resource: Resource, exporter: MetricExporter | None) -> MeterProvider:
    if exporter is None:
        return MeterProvider(resource=resource)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    return MeterProvider(resource=resource, metric_readers=[reader])


def _pipeline_config(settings: AppSettings,
                     on_drop: Callable[[str], None] = lambda name: None) -> pipeline.PipelineConfig:
    reported: set[tuple[str, str]] = set()

    def on_violation(event_name: str, key: str) -> None:
        if (event_name, key) not in reported:
            reported.add((event_name, key))
            emit(SCHEMA_VIOLATED, {attr.TELEMETRY_NAME: f"{event_name}:{key}"})

    return pipeline.PipelineConfig(
        pseudonym_key=settings.pseudonym_key.encode("utf-8"),
        strict=settings.telemetry_strict,
        on_violation=on_violation,
        on_drop=on_drop,
    )


def _report_rejected(settings: AppSettings) -> None:
    for name in sorted(settings.rejected):
        emit(SETTING_REJECTED, {attr.SETTING_NAME: name})
        logging.getLogger(__name__).warning("app setting %s was unusable (%s); default used",
                                            name, settings.rejected[name])


class _AppOnly(logging.Filter):
    """Keeps SDK and exporter chatter (and its feedback loops) out of the exported logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_IGNORED_LOGGERS)


def _bridge_python_logging(logger_provider: LoggerProvider) -> None:
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    handler.addFilter(_AppOnly())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.getLogger("azure").setLevel(logging.WARNING)


def _azure_exporters(settings: AppSettings) -> Exporters | None:
    if not settings.appinsights_connection:
        return None
    # Imported here: the exporter package costs ~0.3 s to import and is useless without a connection string.
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter

    from shared.telemetry.exporters import SampledLogExporter

    kwargs = {"connection_string": settings.appinsights_connection}
    if settings.telemetry_storage_directory:
        kwargs["storage_directory"] = settings.telemetry_storage_directory
    return Exporters(
        spans=AzureMonitorTraceExporter(**kwargs),
        logs=SampledLogExporter(**kwargs),
        metrics=AzureMonitorMetricExporter(**kwargs),
    )
