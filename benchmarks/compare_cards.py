"""How far two sets of cards disagree: the same `zoo publish` on two machines (or two commits).

The cards' numbers reproduce exactly only with the same seed on the same kind of processor and thread
count; elsewhere floating-point sums run in another order. This script measures by how much: per model,
the headline metric on each side and its relative change, how many of the card's numbers differ at all,
and the largest relative change among the measured ones (timings, sizes of files that embed times, and
dates are left out: they are expected to differ).

Run: python benchmarks/compare_cards.py CARDS_A CARDS_B   (e.g. cards /tmp/fresh/cards)
Prints a table and writes benchmarks/results/compare_cards.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

# Numbers that measure the machine or the moment, not the model: never expected to agree.
EXPECTED_TO_DIFFER = ("seconds", "latency_ms", "measured", "created", "bytes", "size_ratio", "onnx_bytes",
                      "sha256", "weights_sha256", "data_sha256", "hardware", "machine", "versions")


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a card with its JSON path, skipping the parts that are expected to differ."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in EXPECTED_TO_DIFFER:
                yield from numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{path}[{index}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


def relative(a: float, b: float) -> float:
    if a == b:
        return 0.0
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale and math.isfinite(scale) else math.inf


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One model's cards side by side: its headline, and how many of its numbers moved and how far."""
    key = a["metrics"]["key"]
    left, right = dict(numbers(a)), dict(numbers(b))
    shared = sorted(set(left) & set(right))
    changes = [(path, relative(left[path], right[path])) for path in shared]
    moved = [(path, change) for path, change in changes if change > 0]
    worst = max(moved, key=lambda item: item[1], default=("-", 0.0))
    return {"model": a["model_details"]["name"], "metric": key, "a": a["metrics"]["values"][key],
            "b": b["metrics"]["values"][key],
            "headline_change": relative(a["metrics"]["values"][key], b["metrics"]["values"][key]),
            "numbers": len(shared), "differ": len(moved), "largest_change": worst[1], "where": worst[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="a folder of card JSON files (e.g. cards/)")
    parser.add_argument("b", type=Path, help="another one (e.g. a fresh zoo publish --out)")
    args = parser.parse_args()
    rows = []
    for path in sorted(args.a.glob("*.json")):
        other = args.b / path.name
        card = json.loads(path.read_text())
        if "model_details" not in card or not other.is_file():
            continue
        found = compare(card, json.loads(other.read_text()))
        rows.append([found["model"], found["metric"], found["a"], found["b"], found["headline_change"],
                     found["numbers"], found["differ"], found["largest_change"], found["where"]])
    report("compare_cards", ["model", "metric", "A", "B", "relative change", "numbers", "differ",
                             "largest relative change", "at"], rows,
           {"a": str(args.a), "b": str(args.b)})


if __name__ == "__main__":
    main()
