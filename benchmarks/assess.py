"""Assessments of every built-in model: each one's time and its headline number, from `zoo publish`'s runs.

Measures every assessment afresh (``assess_run(force=True)``) on the runs `zoo publish` left in runs/<model>
(train them first: `zoo publish`), at budget 1 as the cards are, in this process (the runner gives each
measurement one torch thread). Target: all assessments of one model under 30 s on the 2-core machine.
Run: python benchmarks/assess.py [NAMES...] [--runs DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

from zoo.assess.runner import assess_run  # noqa: E402
from zoo.registry import list_models  # noqa: E402

TARGET_SECONDS = 30.0
# The number each assessment leads with in this table (the card shows them all).
HEADLINE = {
    "attributions": ("samples", "surrogate_samples"),
    "attribution-quality": ("most_faithful", None),
    "calibration": ("ece", "ece_scaled"),
    "robustness": ("fgsm_accuracy", "pgd_accuracy"),
    "ood-detection": ("auroc_uniform_noise", "auroc_natural_patches"),
    "membership-inference": ("auroc", "advantage"),
    "reconstruction-errors": ("border_error_share", None),
    "latent-traversal": ("traversed", None),
    "latent-interpolation": ("path_ratio", None),
    "data-copying": ("ratio", "z"),
    "class-coverage": ("class_fraction", "normalised_entropy"),
}


def _value(values: dict, key: str | None) -> object:
    if key is None:
        return "-"
    value = values.get(key, "-")
    return value if isinstance(value, (int, float, str)) and value is not None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="models (default: every built-in model with a run)")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    names = args.names or [spec.name for spec in list_models() if (args.runs / spec.name).is_dir()]
    rows, totals = [], []
    for name in names:
        began = time.perf_counter()
        results = assess_run(args.runs / name, budget=1.0, force=True)
        wall = time.perf_counter() - began
        for entry in results["assessments"]:
            first, second = HEADLINE.get(entry["name"], (None, None))
            values = entry.get("values", {})
            rows.append([name, entry["section"], entry["name"], entry.get("seconds", "-"),
                         f"{first}={_value(values, first)}" if first else "-",
                         f"{second}={_value(values, second)}" if second else "-", entry["status"]])
        totals.append([name, round(wall, 2), round(sum(e.get("seconds", 0) for e in results["assessments"]), 2),
                       "yes" if wall < TARGET_SECONDS else "NO"])
    report("assess", ["model", "section", "assessment", "seconds", "headline", "second", "status"], rows)
    print()
    report("assess_totals", ["model", "wall_s (load + all)", "assessments_s", f"under {TARGET_SECONDS:g} s"], totals)


if __name__ == "__main__":
    main()
