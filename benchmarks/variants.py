"""fp32, int8 and fp16 of every built-in model in one run: the card's Deployment table for all of them.

Each model is trained with its defaults (a run in --runs trained with the defaults is reused), exported
with every variant (`zoo export --variants fp32,int8,fp16`) and checked and timed as `zoo publish` does
(`zoo verify --latency`: ONNX Runtime CPU, one thread, batch 1 and 64; the task metric on the test split
against FP32, within the family's tolerances). Then the issue's goals for the published models:
cnn-digits int8 at most 0.35x the FP32 size, accuracy drop at most 0.5 points, argmax agreement at least
0.99; lstm-digits int8 runs on ONNX Runtime's dynamic LSTM kernel (DynamicQuantizeLSTM, counted in the graph).
Run: python benchmarks/variants.py [NAMES...] [--runs DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import zoo  # noqa: E402
from zoo.bundle import open_bundle  # noqa: E402
from zoo.bundle.export import export_run  # noqa: E402
from zoo.bundle.variants import VARIANTS  # noqa: E402
from zoo.bundle.verify import summary, verify  # noqa: E402
from zoo.config import resolve  # noqa: E402
from zoo.errors import ZooError  # noqa: E402
from zoo.registry import get_model, list_models  # noqa: E402
from zoo.runs import open_run  # noqa: E402


def default_run(name: str, runs: Path):
    """runs/NAME when it finished with the model's default config, else a fresh run with the defaults."""
    defaults = resolve(get_model(name).default_config, {})
    try:
        run = open_run(runs / name)
        if run.record.get("config") == defaults and (run.path / "metrics.json").exists():
            return run, "reused"
    except ZooError:
        pass
    out = runs / name if not (runs / name).exists() else Path(tempfile.mkdtemp(prefix=f"{name}-", dir=runs))
    return zoo.train(name, out=out), "trained"


def goals(rows: list[dict]) -> list[list]:
    """The issue's done-when numbers, measured here on the published (default-trained) models."""
    found = []
    cnn = {r["variant"]: r for r in rows if r["model"] == "cnn-digits"}
    if "int8" in cnn:
        int8 = cnn["int8"]
        drop = (cnn["fp32"]["metric"]["value"] - int8["metric"]["value"]) * 100
        found += [["cnn-digits int8 size / FP32", int8["size_ratio"], "<= 0.35", int8["size_ratio"] <= 0.35],
                  ["cnn-digits int8 accuracy drop (points)", drop, "<= 0.5", drop <= 0.5],
                  ["cnn-digits int8 argmax agreement", int8["metric"]["argmax_agreement"], ">= 0.99",
                   int8["metric"]["argmax_agreement"] >= 0.99]]
    lstm = [r for r in rows if r["model"] == "lstm-digits" and r["variant"] == "int8"]
    if lstm:
        kernels = lstm[0]["ops"].get("DynamicQuantizeLSTM", 0)
        found.append(["lstm-digits int8 DynamicQuantizeLSTM operators", kernels, ">= 1", kernels >= 1])
    return [[what, value, goal, "yes" if met else "NO"] for what, value, goal, met in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="models (default: every built-in model)")
    parser.add_argument("--runs", type=Path, help="reuse RUNS/NAME when trained with the defaults; train there otherwise")
    args = parser.parse_args()
    names = args.names or [s.name for s in list_models()]
    rows, table, provenance = [], [], None
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or Path(tmp) / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        for name in names:
            started = time.perf_counter()
            run, how = default_run(name, runs)
            bundle = export_run(run, Path(tmp) / "exports" / name, variants=list(VARIANTS))
            checked = verify(bundle, latency=True)
            provenance = checked["deployment"]["provenance"]
            graph = open_bundle(bundle).graph()
            for row in checked["deployment"]["rows"]:
                variant = graph.variants.get(row["variant"], {})
                ops = variant.get("quantized_ops") or Counter()
                metric = row["metric"] or {}
                rows.append({"model": name, **row, "ops": dict(ops)})
                table.append([name, row["variant"], row["bytes"], row["size_ratio"],
                              row["latency_ms"].get("cpu", {}).get("1"), row["latency_ms"].get("cpu", {}).get("64"),
                              metric.get("name", "-"), metric.get("value"), metric.get("change"),
                              metric.get("argmax_agreement", "-"), row["parity"],
                              ", ".join(f"{n} {op}" for op, n in ops.items()) or "-", row["fits"]])
            print(f"{name}: {how} run, {summary(checked)} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    met = goals(rows)
    report("variants", ["model", "variant", "bytes", "x_fp32", "cpu_b1_ms", "cpu_b64_ms", "metric", "value", "change",
                        "agreement", "parity", "int8_ops", "fits"], table,
           {"goals": [dict(zip(["goal", "value", "limit", "met"], g)) for g in met], "details": rows,
            "provenance": provenance})
    print()
    from zoo.cli import table as text_table

    print(text_table(["GOAL", "VALUE", "LIMIT", "MET"], [[g, f"{v:.4g}", lim, m] for g, v, lim, m in met]))


if __name__ == "__main__":
    main()
