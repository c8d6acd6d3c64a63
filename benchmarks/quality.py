"""Train every built-in model with its defaults and compare its key metric with the goal.

Prints: model, metric, value, goal, met, train seconds (the training loop, as recorded in the run).
Run: python benchmarks/quality.py [NAMES...] [--seed N]
     python benchmarks/quality.py --runs runs   # read the runs `zoo publish` left (runs/NAME) instead
"""
from __future__ import annotations

import argparse
import operator
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import zoo  # noqa: E402
from zoo.runs import open_run  # noqa: E402

# model -> [(metric, comparison, goal)]; `frechet_ratio_to_baseline` is frechet_distance / baseline
GOALS = {
    "cnn-digits": [("accuracy", ">=", 0.99)],
    "rnn-digits": [("accuracy", ">=", 0.97)],
    "lstm-digits": [("accuracy", ">=", 0.97)],
    "gru-digits": [("accuracy", ">=", 0.97)],
    "fcn-digits-rows": [("accuracy", ">=", 0.97)],
    "ae-digits": [("mse_vs_pca", "<=", 1.0)],
    "sparse-ae-digits": [("mse_vs_pca", "<=", 1.0)],
    "gan-digits": [("frechet_ratio_to_baseline", "<=", 0.10)],
    "cgan-digits": [("frechet_ratio_to_baseline", "<=", 0.10), ("label_accuracy", ">=", 0.95)],
}
COMPARE = {">=": operator.ge, "<=": operator.le}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=sorted(GOALS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runs", type=Path, help="read finished runs RUNS/NAME instead of training")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            started = time.perf_counter()
            if args.runs is not None:
                run = open_run(args.runs / name)
            else:
                run = zoo.train(name, seed=args.seed, out=Path(tmp) / name)
            wall = time.perf_counter() - started
            recorded = run.metrics()
            for metric, sign, goal in GOALS.get(name, []):
                value = recorded["metrics"][metric]
                rows.append([name, metric, value, f"{sign} {goal}", "yes" if COMPARE[sign](value, goal) else "NO",
                             recorded["train_seconds"], wall])
            print(f"{name}: done in {wall:.1f} s", file=sys.stderr)
    report("quality", ["model", "metric", "value", "goal", "met", "train_s", "wall_s"], rows,
           {"seed": args.seed if args.seed is not None else "defaults"})


if __name__ == "__main__":
    main()
