"""The card's measured explainability and safety: a run's assessments, with their figures beside the card.

The results come from ``zoo.assess.runner`` (measured now, or reused from the run directory while still
valid); this module only copies their figures next to the card (``figures/<model>/``) and rewrites the
figure names to the card-relative paths the card links.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from zoo.assess import BUDGET_RANGE, SECTIONS
from zoo.fsutil import atomic_write_bytes

BUDGET_VARIABLE = "ZOO_ASSESS_BUDGET"  # scales assessment sample counts for cards (default 1; recorded)


def card_budget() -> float:
    """The budget cards are assessed at: 1 unless ``ZOO_ASSESS_BUDGET`` says otherwise."""
    from zoo.errors import ZooError

    text = os.environ.get(BUDGET_VARIABLE, "1")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    low, high = BUDGET_RANGE
    if not low <= value <= high:
        raise ZooError(f"{BUDGET_VARIABLE} must be a number from {low:g} to {high:g}, got {text!r}")
    return value


def assessments(run_path: Path, card_dir: Path, files_folder: Path, trained: tuple) -> dict[str, Any]:
    """The run's assessments for its card, by section, with provenance; figures copied under ``files_folder``.
    ``trained`` is the card's own ``load_trained(run_path)``."""
    from zoo.assess.runner import FOLDER, assess_run, by_section

    results = assess_run(run_path, budget=card_budget(), trained=trained)
    source = Path(run_path) / FOLDER
    sections: dict[str, list[dict[str, Any]]] = {}
    for section, entries in by_section(results).items():
        sections[section] = [_placed(entry, source, card_dir, files_folder) for entry in entries]
    return {**sections, "provenance": dict(results["provenance"])}


def _placed(entry: Mapping[str, Any], source: Path, card_dir: Path, files_folder: Path) -> dict[str, Any]:
    placed = dict(entry)
    figures = []
    for figure in entry.get("figures", []):
        relative = files_folder / f"assess-{figure['file']}"
        atomic_write_bytes(card_dir / relative, (source / figure["file"]).read_bytes())
        figures.append({"file": relative.as_posix(), "caption": figure["caption"]})
    if figures:
        placed["figures"] = figures
    return placed


def figure_files(card: Mapping[str, Any]) -> list[str]:
    """Every assessment figure the card links (relative to the card)."""
    found = card.get("assessments") or {}
    return [f["file"] for section in SECTIONS for entry in found.get(section, [])
            for f in entry.get("figures", [])]
