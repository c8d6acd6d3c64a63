"""The model card's schema and how to read a card: what every card holds, its headline metric.

Readers of published cards (``zoo.hub``, ``zoo.catalog``) need only this module, not the one that makes
cards. Imports only ``zoo.errors``.
"""
from __future__ import annotations

from typing import Any, Mapping

from zoo.errors import ZooError

SCHEMA_ID = "zoo.card/1"
DATA_NOTES = ("source", "license", "collection", "preprocessing", "known_gaps", "biases")
SAFETY = ("risks", "misuse", "weights", "training_data")
Number = (int, float)

STATIC_SCHEMA: dict[str, Any] = {
    "description": str,
    "intended_use": str,
    "out_of_scope_use": str,
    "data_notes": dict.fromkeys(DATA_NOTES, str),
    "explainability": str,
    "safety": dict.fromkeys(SAFETY, str),
    "limitations": str,
}

_PROVENANCE = {"run": str, "split": str, "seed": int, "zoo_version": str, "data_sha256": str}
CARD_SCHEMA: dict[str, Any] = {
    "schema": str,
    "model_details": {"name": str, "family": str, "task": str, "summary": str, "description": str,
                      "plugin": str, "zoo_version": str, "parameters": int, "graphs": list},
    "intended_use": {"primary": str, "out_of_scope": str},
    "factors": str,
    "metrics": {"key": str, "values": dict, "provenance": _PROVENANCE},
    "evaluation_data": {"name": str, "split": str, "size": int, "sha256": str},
    "training_data": {"notes": STATIC_SCHEMA["data_notes"], "splits": dict, "sha256": str},
    "training": {"config": dict, "seconds": Number, "epochs": int, "history": list, "provenance": {"run": str}},
    "quantitative_analyses": dict,
    "explainability": {"method": str, "figures": list},
    "assessments": {"explainability": list, "safety": list, "provenance": dict},
    "ethical_considerations": STATIC_SCHEMA["safety"],
    "caveats_and_recommendations": str,
    "parity": {"status": str},
    "bundle": {"status": str},
    "figures": list,
}

class CardError(ZooError):
    """A model card cannot be made from what was given, or does not follow the schema."""


def _type_name(want: Any) -> str:
    return " or ".join(t.__name__ for t in want) if isinstance(want, tuple) else want.__name__


def schema_problems(value: Any, schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every way ``value`` departs from ``schema``: 'missing safety.misuse', 'x must be str', ..."""
    if not isinstance(value, Mapping):
        return [f"{prefix.rstrip('.') or 'card'} must be a mapping"]
    found = []
    for key, want in schema.items():
        name, got = prefix + key, value.get(key)
        if got is None or got == "" or got == {}:
            found.append(f"missing {name}")
        elif isinstance(want, dict):
            found += schema_problems(got, want, name + ".")
        elif isinstance(got, bool) or not isinstance(got, want):
            found.append(f"{name} must be {_type_name(want)}")
    return found


def validate_card(card: Mapping[str, Any]) -> list[str]:
    """Schema problems of a complete card, plus the disaggregated results classifiers owe."""
    found = schema_problems(card, CARD_SCHEMA)
    if not found and card["model_details"]["task"] == "classification":
        analyses = card["quantitative_analyses"]
        found += [f"missing quantitative_analyses.{k}" for k in ("per_class", "confidence_intervals")
                  if not analyses.get(k)]
    return found


def key_metric(metrics: Mapping[str, Any]) -> str:
    """The metric a family reports first (its headline: accuracy, mse, frechet_distance, ...)."""
    for name, value in metrics.items():
        if isinstance(value, Number) and not isinstance(value, bool):
            return name
    raise CardError("metrics.json holds no scalar metric")


def headline(card: Mapping[str, Any]) -> dict[str, Any]:
    """A card's headline metric: its key, value, interval and the interval's level (None where not
    measured) and the split it was measured on. A card without them raises KeyError or TypeError: each
    caller says how its card is damaged."""
    metrics = card["metrics"]
    key, values = metrics["key"], metrics["values"]
    intervals = values.get("confidence_intervals") or {}
    return {"key": key, "value": values[key], "interval": intervals.get(key),
            "level": intervals.get("level") if key in intervals else None,
            "split": card.get("evaluation_data", {}).get("split")}
