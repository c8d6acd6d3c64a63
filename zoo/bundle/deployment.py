"""The Deployment table: per variant, its size, ONNX Runtime latency, task metric, parity and where it fits.

Measured by ``zoo verify --latency`` (``zoo publish`` asks for it) on the bundle's primary graph, the
one a deployer runs, and kept in the verification report with its provenance; the card only
renders it. Latency is the median wall time of ``session.run`` at batch 1 and 64 after a warm-up,
on ONNX Runtime CPU with one intra-op thread (comparable across machines of different sizes), and
on CUDA (``cuda-tf32``, ONNX Runtime's default) where that provider ran. ``fit`` is the one rule
that turns the measurements into a recommendation.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime, timezone
from typing import Any, Callable

import onnxruntime as ort

from zoo import __version__
from zoo.bundle import CPU, FP32, Bundle, Graph, SessionError
from zoo.versions import hardware

BATCHES = (1, 64)
THREADS = 1
BUDGET_S = 0.3      # seconds of timing per measurement, after one warm-up call
LEAST_RUNS = 5
TIMED_MODES = {"cpu": "cpu", "cuda-tf32": "cuda"}  # report mode -> column of the table
EDGE_SIZE_RATIO = 0.5   # an int8 variant at most this size of FP32 is worth shipping to a small device
FASTER = 1.1            # and at least this much faster than FP32 on CPU at batch 64 also suits a CPU server


def median_seconds(call: Callable[[], Any], budget: float = BUDGET_S, least: int = LEAST_RUNS) -> float:
    """Median wall time of ``call`` after one warm-up call, over ``least`` calls or ``budget`` seconds
    (the one timing rule of zoo's measurements and of the benchmarks)."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + budget
    while len(times) < least or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(graph: Graph, mode) -> dict[str, float] | None:
    """Median ms per call at each of ``BATCHES`` on ``mode``, or None where it does not run there (the
    report's checks already say why)."""
    try:
        session = graph.session(mode.provider, mode.options, threads=THREADS if mode.provider == CPU else None)
    except SessionError:
        return None
    lengths = graph.export_lengths()
    found = {}
    for batch in BATCHES:
        feeds = graph.random_inputs(batch, lengths, seed=batch)
        found[str(batch)] = round(median_seconds(lambda: session.run(None, feeds)) * 1e3, 4)
    return found


def parity_of(report: dict[str, Any], variant: str) -> str:
    """pass, fail, or skipped over every check of ``variant`` in the report.

    A variant is judged on the task: where its task check did not run (no run, so no test split),
    it is ``skipped`` whatever else ran, since running without error says nothing of its quality.
    """
    rows = [r for r in report["checks"] + report["task"] if r.get("variant", FP32) == variant]
    ran = [r for r in rows if r["status"] != "skipped"]
    judged = variant == FP32 or any(r["status"] != "skipped" for r in report["task"] if r.get("variant") == variant)
    if any(r["status"] == "fail" for r in ran):
        return "fail"
    return "pass" if ran and judged else "skipped"


def task_value(report: dict[str, Any], variant: str) -> dict[str, Any] | None:
    """The variant's task metric on the test split (ONNX Runtime CPU), as the report's task rows measured it."""
    for row in report["task"]:
        if row["provider"] != "cpu" or row["status"] == "skipped":
            continue
        if row.get("variant") == variant:
            return {"name": row["metric"], "value": row["value"], "change": row["change"],
                    **({"argmax_agreement": row["argmax_agreement"]} if "argmax_agreement" in row else {})}
        if variant == FP32 and row.get("variant") and "fp32" in row:
            return {"name": row["metric"], "value": row["fp32"], "change": 0.0}
    for row in report["task"]:  # no variant: FP32's own task row (ONNX against PyTorch)
        if variant == FP32 and row["provider"] == "cpu" and not row.get("variant"):
            for name, key in (("accuracy", "accuracy_onnx"), ("mse", "mse_onnx")):
                if key in row:
                    return {"name": name, "value": row[key], "change": 0.0}
    return None


def fit(variant: str, parity: str, size_ratio: float, cpu_speedup: float | None, cuda: bool,
        still_float: dict[str, int] | None = None) -> str:
    """Where a variant fits, from its measurements: data-centre GPU, CPU server, edge device, or nowhere.

    ``still_float``: the weighted operators an int8 variant left in FP32 (its manifest's ``float_ops``).
    """
    if parity == "fail":
        return "none: beyond its tolerance (see the report)"
    if parity == "skipped":
        return "unknown: its task-level check did not run here"
    if variant == FP32:
        return "CPU server; data-centre GPU where full precision is wanted"
    if variant == "fp16":
        return "data-centre GPU" + ("" if cuda else " (not timed on a GPU here)")
    if size_ratio > EDGE_SIZE_RATIO:
        why = (f"{', '.join(still_float)} stay{'s' if len(still_float) == 1 else ''} FP32" if still_float
               else "the quantization's scales and nodes outweigh the int8 weights at this size")
        return f"none: {size_ratio:.2f}x the FP32 size ({why}); ship FP32"
    return "edge device" + ("; CPU server" if cpu_speedup is not None and cpu_speedup >= FASTER else "")


def measure(bundle: Bundle, mode_list: list, report: dict[str, Any]) -> dict[str, Any]:
    """The Deployment table of ``bundle`` (its primary graph), from fresh timings and the report's checks."""
    graph = bundle.graph()
    modes = [m for m in mode_list if m.name in TIMED_MODES]
    fp32_bytes = graph.path.stat().st_size
    rows = []
    declined = graph.entry.get("declined_variants", {})
    for variant in bundle.variants:
        if variant in declined:  # never made: no file to time, the reason instead
            rows.append({"variant": variant, "graph": graph.name, "file": None, "bytes": None, "size_ratio": None,
                         "latency_ms": {}, "metric": None, "parity": "declined", "note": declined[variant],
                         "declined": declined[variant]})
            continue
        g = graph.variant(variant)
        timed = {TIMED_MODES[m.name]: found for m in modes for found in [latency(g, m)] if found is not None}
        rows.append({"variant": variant, "graph": graph.name, "file": g.entry["file"], "bytes": g.path.stat().st_size,
                     "size_ratio": round(g.path.stat().st_size / fp32_bytes, 4), "latency_ms": timed,
                     "metric": task_value(report, variant), "parity": parity_of(report, variant),
                     "note": graph.variants.get(variant, {}).get("note", "as exported")})
    cpu_fp32 = next((r["latency_ms"].get("cpu", {}).get(str(BATCHES[-1])) for r in rows if r["variant"] == FP32), None)
    for row in rows:
        if row.get("declined"):
            row["fits"] = f"none: not made ({row['declined']})"
            continue
        cpu = row["latency_ms"].get("cpu", {}).get(str(BATCHES[-1]))
        speedup = cpu_fp32 / cpu if cpu and cpu_fp32 else None
        row["fits"] = fit(row["variant"], row["parity"], row["size_ratio"], speedup, "cuda" in row["latency_ms"],
                          graph.variants.get(row["variant"], {}).get("float_ops"))
    return {"rows": rows, "provenance": {
        "measured_by": f"zoo {__version__} verify --latency", "graph": graph.name, "onnxruntime": ort.__version__,
        "providers": [TIMED_MODES[m.name] for m in modes], "batches": list(BATCHES), "cpu_threads": THREADS,
        "statistic": f"median ms per call after a warm-up, at least {LEAST_RUNS} calls or {BUDGET_S} s",
        "machine": hardware(),
        "task_metric": "on the test split, ONNX Runtime CPU; the primary graph's variant against FP32",
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
