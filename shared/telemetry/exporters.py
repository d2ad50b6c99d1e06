"""Exporter adjustments: log records (custom events, traces) carry their sample rate like spans do.

The Azure Monitor trace exporter reads ``_MS.sampleRate`` from span attributes; its log exporter does not, so kept
events of a sampled trace would count once instead of 100/rate times. :class:`SampledLogExporter` applies the same
rule to log records and keeps the key out of ``customDimensions``.
"""

from __future__ import annotations

from typing import Any

from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter

from shared.telemetry.sampling import SAMPLE_RATE_KEY


class SampledLogExporter(AzureMonitorLogExporter):
    def _log_to_envelope(self, readable_log_record: Any) -> Any:  # the exporter's own extension point
        envelope = super()._log_to_envelope(readable_log_record)
        attributes = readable_log_record.log_record.attributes or {}
        rate = attributes.get(SAMPLE_RATE_KEY)
        if rate is not None:
            envelope.sample_rate = float(rate)
            properties = getattr(getattr(envelope.data, "base_data", None), "properties", None)
            if properties:
                properties.pop(SAMPLE_RATE_KEY, None)
        return envelope
