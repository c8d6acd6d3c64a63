"""The UCR/UEA archive's problems: zoo's models on the archive's own split beside zoo's 1-NN ED and the published
results, with each model's training time and whether it meets the card's goals.

Per problem with published results (``DatasetSpec.published``, read from the ucr plugin's published.json):
the published rows; zoo's 1-NN ED (``zoo.cards.published.nearest_neighbour_baseline``: fit on train + val, the
archive's whole training part; "not defined" for unequal lengths); and every zoo model of the problem trained with
its defaults on each seed (one torch thread), with its test accuracy, the goals the card states
(``zoo.cards.published.published_comparison``: at least the best published nearest-neighbour baseline; within 0.03 of
the best published learned model) and the training loop's seconds as the run records them.

Prints the table and writes benchmarks/results/sequences.json.
Run: python benchmarks/sequences.py [--seeds 0,1,2] [--datasets ucr-gunpoint,...] [--models NAME,...] [--no-train]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import zoo  # noqa: E402
from zoo.cards.published import nearest_neighbour_baseline, published_comparison  # noqa: E402
from zoo.data import load_data  # noqa: E402
from zoo.registry import list_datasets  # noqa: E402

HEADERS = ["dataset", "method", "kind", "seed", "test_accuracy", "goals", "train_s", "source"]


def _goals(found) -> str:
    return "; ".join(("met" if g["met"] else f"MISSED by {-g['margin']:.4f}") + f" ({g['reference']['method']})"
                     for g in found["goals"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds for every model")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every one with published results)")
    parser.add_argument("--models", help="comma-separated model names (default: every model of those datasets)")
    parser.add_argument("--no-train", action="store_true", help="only the published rows and zoo's 1-NN ED")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = set(args.datasets.split(",")) if args.datasets else None
    datasets = [d for d in list_datasets() if d.published and (wanted is None or d.name in wanted)]
    rows, summary = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            data = load_data(dataset, needs_labels=True)
            for row in dataset.published:
                rows.append([dataset.name, row["method"], row["kind"], "-", row["accuracy"], "-", "-",
                             row["source"].split(" (http")[0]])
            baseline = nearest_neighbour_baseline(data)
            accuracy = (f"{baseline['accuracy']:.4f}" if baseline["accuracy"] is not None
                        else baseline["note"].split(":")[0])
            rows.append([dataset.name, f"{baseline['method']} (computed by zoo)", "nearest-neighbour", "-", accuracy,
                         "-", "-", baseline["provenance"]])
            models = [s for s in zoo.list_models() if s.dataset == dataset.name and s.task == "classification"
                      and (not args.models or s.name in args.models.split(","))]
            for spec in [] if args.no_train else models:
                for seed in seeds:
                    started = time.perf_counter()
                    run = zoo.train(spec.name, seed=seed, out=Path(tmp) / f"{spec.name}-{seed}")
                    measured = run.metrics()
                    found = published_comparison(dataset, data, measured["metrics"])
                    rows.append([dataset.name, spec.name, "zoo model", seed, measured["metrics"]["accuracy"],
                                 _goals(found), measured["train_seconds"], f"run {run.path.name}"])
                    summary.setdefault(spec.name, []).append(all(g["met"] for g in found["goals"]))
                    print(f"{spec.name} seed {seed}: {measured['metrics']['accuracy']:.4f} in "
                          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    report("sequences", HEADERS, rows, {"seeds": seeds, "torch_threads": 1,
                                        "every_goal_met_on_every_seed": {k: all(v) for k, v in summary.items()}})


if __name__ == "__main__":
    main()
