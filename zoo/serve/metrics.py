"""The server's Prometheus metrics, in a registry of its own (several servers in one process never mix counts).

``zoo_inference_requests_total{model, outcome}``: inference requests by model and outcome (``success``,
``client_error`` for a 4xx, ``server_error`` for a 5xx); a model name the server does not serve counts under
``model="unknown"``, so a client cannot grow the label set. ``zoo_inference_request_duration_seconds{model}``:
the time from the request's arrival to its answer, for every outcome. ``zoo_inference_batch_rows{model}``: the
rows of each ONNX Runtime run (1 per request without batching; more when batching stacks requests).

Imports prometheus-client only.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

UNKNOWN_MODEL = "unknown"
OUTCOMES = {2: "success", 4: "client_error", 5: "server_error"}
LATENCY_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Counters and histograms of one server; ``exposition()`` is the /metrics answer."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("zoo_inference_requests", "Inference requests by model and outcome",
                                ["model", "outcome"], registry=self.registry)
        self.duration = Histogram("zoo_inference_request_duration_seconds",
                                  "Time from an inference request's arrival to its answer", ["model"],
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("zoo_inference_batch_rows", "Rows in each ONNX Runtime run", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)

    def declare(self, model: str) -> None:
        """Show a served model's series at zero before its first request."""
        for outcome in OUTCOMES.values():
            self.requests.labels(model, outcome)
        self.duration.labels(model)
        self.batch_rows.labels(model)

    def request(self, model: str, status: int, seconds: float) -> None:
        self.requests.labels(model, OUTCOMES.get(status // 100, "server_error")).inc()
        self.duration.labels(model).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
