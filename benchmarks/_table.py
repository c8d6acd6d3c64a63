"""Shared output for the benchmark scripts: a printed table and a JSON file under benchmarks/results/."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def report(name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print ``rows`` as a table and write them (with machine facts) to results/<name>.json."""
    from zoo.cli import table

    print(table(headers, [[f"{c:.4g}" if isinstance(c, float) else c for c in row] for row in rows]))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "columns": list(headers),
               "rows": [dict(zip(headers, row)) for row in rows], **(extra or {})}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten: {path}")
    return path
