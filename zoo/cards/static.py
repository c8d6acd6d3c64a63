"""The part of a card a plugin writes (``zoo_model_card``), merged with its dataset's notes and the core's
own safety facts, and checked: torch-free, so ``zoo plugins`` can say which cards are incomplete.
"""
from __future__ import annotations

from typing import Any, Mapping

from zoo.cards.schema import STATIC_SCHEMA, CardError, schema_problems
from zoo.specs import DatasetSpec, ModelSpec

DEFAULT_FACTORS = ("Results are measured on one fixed, stratified test split of the dataset; where the model "
                   "has labels they are broken down by class. No other factor (writer, instrument, "
                   "environment) is recorded in the data, so none can be analysed.")


WEIGHTS_NOTE = ("zoo stores weights as safetensors (tensors only, nothing that runs code when read) and "
                "reads resumable checkpoints with torch.load(weights_only=True), refusing any that hold other "
                "objects; an export bundle lists the SHA-256 of each of its files, quoted in this card.")


def merged_static(spec: ModelSpec, dataset: DatasetSpec | None, card: Any) -> Any:
    """The family's card laid over what is not the family's to write.

    Data notes start from the dataset (source, license, its shared notes); a note both give is
    kept from both, dataset first, as the family adds what it does to the data. Safety starts
    from the core's weight storage and the dataset's privacy note.
    """
    if not isinstance(card, Mapping):
        return card
    merged = dict(card)
    if isinstance(card.get("data_notes"), Mapping) and dataset is not None:
        notes: dict[str, str] = {"source": dataset.source, "license": dataset.license, **dataset.notes}
        for key, text in card["data_notes"].items():
            notes[key] = f"{notes[key]} {text}" if notes.get(key) and notes[key] != text else text
        merged["data_notes"] = notes
    if isinstance(card.get("safety"), Mapping):
        shared = {"weights": WEIGHTS_NOTE, "training_data": dataset.notes.get("privacy") if dataset else None}
        merged["safety"] = {**{k: v for k, v in shared.items() if v}, **card["safety"]}
    return merged


def static_problems(card: Any, merged: Any) -> list[str]:
    """A part the family did not write at all is named once; otherwise what the merged card lacks."""
    if not isinstance(card, Mapping):
        return [f"the card must be a mapping, not {type(card).__name__}"]
    absent = [key for key in STATIC_SCHEMA if card.get(key) in (None, "", {})]
    return [f"missing {key}" for key in absent] + [
        p for p in schema_problems(merged, STATIC_SCHEMA) if not any(p.startswith(f"missing {k}") for k in absent)]


def static_card(spec: ModelSpec) -> tuple[dict[str, Any] | None, list[str]]:
    """The plugin's card for ``spec`` merged with its dataset notes, and what it lacks (torch-free)."""
    from zoo.plugins import PluginError, call_model_hook, plugin_set

    try:
        card = call_model_hook("zoo_model_card", spec)
    except PluginError as exc:
        return None, [str(exc)]
    merged = merged_static(spec, plugin_set().datasets.get(spec.dataset), card)
    return merged, static_problems(card, merged)


def plugin_card_status(plugin: str) -> dict[str, Any]:
    """For ``zoo plugins``: whether every model of ``plugin`` has a complete card, and what is missing."""
    from zoo.plugins import plugin_set

    models = [s for s in plugin_set().models.values() if s.plugin == plugin]
    missing = {s.name: found for s in models for found in [static_card(s)[1]] if found}
    return {"models": len(models), "complete": not missing, "missing": missing}


def describe_status(status: Mapping[str, Any]) -> str:
    """One short cell for the plugins table."""
    if not status["models"]:
        return "-"
    if status["complete"]:
        return "ok"
    name, found = next(iter(status["missing"].items()))
    more = f" (+{len(status['missing']) - 1} models)" if len(status["missing"]) > 1 else ""
    return f"incomplete: {name}: {', '.join(found[:3])}{'...' if len(found) > 3 else ''}{more}"


def require_static(spec: ModelSpec) -> dict[str, Any]:
    """The merged static card, or a CardError naming every missing part."""
    card, found = static_card(spec)
    if found:
        raise CardError(f"the model card of {spec.name!r} (plugin {spec.plugin!r}) is incomplete: {'; '.join(found)}")
    return card
