"""The published results of ``published.json``, the plugin's one file of numbers typed from papers, as the rows
``zoo.specs.DatasetSpec.published`` takes.

Imports: the standard library only.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("published.json")


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The whole file: ``sources`` by key, and each problem's ``problems`` rows."""
    return json.loads(FILE.read_text(encoding="utf-8"))


def source_text(key: str) -> str:
    """A source as a card cites it: its name, address (where it has one) and what to know about its numbers."""
    source = table()["sources"][key]
    where = f" ({source['url']})" if source.get("url") else ""
    return f"{source['name']}{where}. {source['note']}"


def rows(problem: str) -> tuple[dict[str, str], ...]:
    """The published results of an archive problem (its name in the archive), with each source in words."""
    return tuple({"method": row["method"], "kind": row["kind"], "accuracy": row["accuracy"],
                  "source": source_text(row["source"])} for row in table()["problems"].get(problem, []))
