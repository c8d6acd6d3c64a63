"""cnn-digits with differential privacy at several budgets: test accuracy against membership leak.

One run trains the DP recipe below at each epsilon and without DP, then the model's own defaults without
DP (or reads that run: --reference RUN), and measures each model's loss-threshold membership-inference
AUROC (zoo.membership: training split = members, test split = non-members; 0.5 = no leak).

Prints: epsilon asked, epsilon spent, delta, noise multiplier, test accuracy, membership AUROC and
advantage, train seconds. Run: python benchmarks/privacy.py [--epsilons 1,3,8] [--seed N] [--reference RUN]
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
from zoo.models import load_trained  # noqa: E402
from zoo.membership import loss_attack  # noqa: E402
from zoo.runs import open_run  # noqa: E402

MODEL = "cnn-digits"
# The DP recipe for cnn-digits (tuned at epsilon 8 on 1,257 training samples; README "Differential privacy"):
# large Poisson batches and few epochs keep the noise per step low; a narrower network without the dense
# layer has fewer parameters to drown in noise; shift augmentation and dropout cost accuracy under DP.
RECIPE = {"epochs": 40, "batch_size": 256, "lr": 0.02,
          "overrides": {"channels": "16,32", "hidden": 0, "dropout": 0.0, "shift": 0, "label_smoothing": 0.0,
                        "weight_decay": 0.0}}


def measured(run, label: str, wall: float) -> list:
    """One table row: privacy from metrics.json where the run was private, else measured here."""
    recorded = run.metrics()
    private = recorded.get("privacy")
    if private:
        attack = private["membership_inference"]
    else:
        _, model, data, _, _ = load_trained(run)
        attack = loss_attack(model, data)
    return [label, private["target_epsilon"] if private else "-", private["epsilon"] if private else "-",
            private["delta"] if private else "-", private["noise_multiplier"] if private else "-",
            recorded["metrics"]["accuracy"], attack["auroc"], attack["advantage"], recorded["train_seconds"], wall]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epsilons", default="1,3,8", help="comma-separated target epsilons")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, help="a finished non-private run of cnn-digits with its defaults")
    args = parser.parse_args()
    epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(f"DP recipe, epsilon {e:g}", {**RECIPE, "dp_epsilon": e}) for e in epsilons]
        jobs.append(("DP recipe without DP", dict(RECIPE)))
        for label, options in jobs:
            started = time.perf_counter()
            run = zoo.train(MODEL, seed=args.seed, out=Path(tmp) / label.replace(" ", "-").replace(",", ""),
                            **options)
            rows.append(measured(run, label, time.perf_counter() - started))
            print(f"{label}: done in {rows[-1][-1]:.1f} s", file=sys.stderr)
        started = time.perf_counter()
        reference = open_run(args.reference) if args.reference else zoo.train(MODEL, seed=args.seed,
                                                                               out=Path(tmp) / "defaults")
        rows.append(measured(reference, "model defaults without DP", time.perf_counter() - started))
    report("privacy", ["model", "epsilon_target", "epsilon_spent", "delta", "noise_multiplier", "accuracy",
                       "mi_auroc", "mi_advantage", "train_s", "wall_s"], rows,
           {"model": MODEL, "recipe": RECIPE, "seed": args.seed,
            "reference": str(args.reference) if args.reference else "trained with the model's defaults"})


if __name__ == "__main__":
    main()
