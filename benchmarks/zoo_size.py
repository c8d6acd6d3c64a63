"""How big the shipped zoo is: the bytes of every committed bundle under exports/, by part and by model.

The zoo is committed so that a fresh clone predicts without training; it is meant to stay under 16 MB
(16,000,000 bytes; 10 MB before the UCR/UEA archive's models), which tests/test_hub.py checks on every run.
This script says where the bytes go.

Prints: model, parameters, weights, FP32 graphs, int8, fp16, card, other, total (bytes), then the same
per part for the whole zoo (with the folder's index.json and README.md). Run: python benchmarks/zoo_size.py [EXPORTS]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

GOAL_BYTES = 16_000_000
PARTS = ("weights", "fp32", "int8", "fp16", "card", "other")


def part(relative: Path) -> str:
    """Which part of a bundle a file is, from its path inside the bundle."""
    if relative.parts[0] == "card":
        return "card"
    if relative.suffix == ".safetensors":
        return "weights"
    if relative.suffix == ".onnx":
        precision = relative.stem.rsplit(".", 1)[-1]
        return precision if precision in ("int8", "fp16") else "fp32"
    return "other"


def parameters(bundle: Path) -> int:
    """The model's parameter count, as its card states it."""
    card = json.loads((bundle / "card" / "card.json").read_text())
    return int(card["model_details"]["parameters"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("exports", nargs="?", type=Path, default=Path("exports"))
    args = parser.parse_args()
    rows, totals = [], dict.fromkeys(PARTS, 0)
    for bundle in sorted(p for p in args.exports.iterdir() if p.is_dir()):
        sizes = dict.fromkeys(PARTS, 0)
        for path in bundle.rglob("*"):
            if path.is_file():
                sizes[part(path.relative_to(bundle))] += path.stat().st_size
        for key, value in sizes.items():
            totals[key] += value
        rows.append([bundle.name, parameters(bundle), *sizes.values(), sum(sizes.values())])
    loose = sum(p.stat().st_size for p in args.exports.iterdir() if p.is_file())  # index.json, README.md
    totals["other"] += loose
    total = sum(totals.values())
    rows.append(["all (with index.json, README.md)", sum(r[1] for r in rows), *totals.values(), total])
    report("zoo_size", ["model", "parameters", *PARTS, "total"], rows,
           {"total_bytes": total, "goal_bytes": GOAL_BYTES, "met": total < GOAL_BYTES})
    print(f"total {total / 1e6:.2f} MB, goal under {GOAL_BYTES / 1e6:.0f} MB: {'met' if total < GOAL_BYTES else 'NOT met'}")


if __name__ == "__main__":
    main()
