"""Model cards: the schema, the static part a plugin writes, and the card assembled from measurements.

A card has three kinds of content, kept apart so that no number is ever typed in by hand:

* static text from the family's ``zoo_model_card`` hook, merged with its dataset's notes;
* facts computed from the built model (parameters, graph input and output shapes) and from
  the ONNX bundle when there is one (file sizes, checksums);
* measurements read from the run (``metrics.json``, history, config) and the bundle's
  verification report, each with its provenance.

A card is portable: it names runs by run id and bundles by name, never by a path of the machine
that made it, and links only files that sit beside it (its figures and its copy of the
verification report, listed by ``linked_files``).

Validation of the static part needs no torch, so ``zoo plugins`` can report incomplete cards.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from zoo import __version__
from zoo.errors import ZooError
from zoo.specs import DatasetSpec, ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from zoo.bundle import Bundle

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

DEFAULT_FACTORS = ("Results are measured on one fixed, stratified test split of the dataset; where the model "
                   "has labels they are broken down by class. No other factor (writer, instrument, "
                   "environment) is recorded in the data, so none can be analysed.")


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


def _quantitative(metrics: Mapping[str, Any]) -> dict[str, Any]:
    parts = {k: metrics[k] for k in ("per_class", "confidence_intervals", "confusion_matrix") if k in metrics}
    if "per_class" not in parts:
        parts["note"] = "This model has no class-level results; the scalar metrics above are all there is."
    return parts


def assemble(*, spec: ModelSpec, static: Mapping[str, Any], run, facts: Mapping[str, Any],
             bundle: Mapping[str, Any], parity: Mapping[str, Any], figures: list[dict[str, str]],
             assessments: Mapping[str, Any]) -> dict[str, Any]:
    """The whole card from its three sources; pure, so a test can check every field's origin."""
    from zoo.cards.facts import augmentation, distillation, privacy, run_id

    measured = run.metrics()
    metrics, record, history = measured["metrics"], run.record, run.history()
    provenance = {"run": run_id(run.path), "split": measured["split"], "seed": measured["seed"],
                  "zoo_version": measured["zoo_version"], "data_sha256": record["data"]["sha256"],
                  "created": record.get("created"), "world_size": measured.get("world_size", 1)}
    splits = record["data"]["splits"]
    return {
        "schema": SCHEMA_ID,
        "model_details": {
            "name": spec.name, "family": spec.family, "task": spec.task, "summary": spec.summary,
            "description": static["description"], "plugin": spec.plugin, "zoo_version": __version__,
            "license": static.get("license", "mit"), "dataset": spec.dataset,
            "parameters": facts["parameters"], "graphs": facts["graphs"], "versions": record.get("versions", {}),
        },
        "intended_use": {"primary": static["intended_use"], "out_of_scope": static["out_of_scope_use"]},
        "factors": static.get("factors", DEFAULT_FACTORS),
        "metrics": {"key": key_metric(metrics), "values": metrics, "provenance": provenance},
        "evaluation_data": {"name": record["data"]["name"], "split": measured["split"],
                            "size": int(splits[measured["split"]]), "sha256": record["data"]["sha256"],
                            "source": record["data"]["source"]},
        "training_data": {"notes": dict(static["data_notes"]), "splits": splits, "sha256": record["data"]["sha256"],
                          "layout": record["data"]["layout"], "sample_shape": record["data"]["sample_shape"],
                          "num_classes": record["data"]["num_classes"],
                          "augmentation": augmentation(spec.task, record["data"]["layout"], record["config"])},
        "training": {"config": record["config"], "seconds": measured["train_seconds"], "epochs": len(history),
                     "history": history, "provenance": {"run": provenance["run"]}},
        "quantitative_analyses": _quantitative(metrics),
        **{key: value for key, value in (("privacy", privacy(run)), ("distillation", distillation(run))) if value},
        "explainability": {"method": static["explainability"],
                           "figures": [f["file"] for f in figures if f.get("explains")]},
        "assessments": dict(assessments),
        "ethical_considerations": dict(static["safety"]),
        "caveats_and_recommendations": static["limitations"],
        "parity": dict(parity),
        "bundle": dict(bundle),
        "figures": figures,
    }


def source_paths(path: str | Path) -> tuple[Path, Bundle | None]:
    """A run directory, or an export bundle (opened: checksums checked; its manifest names the run):
    (run directory, ``zoo.bundle.Bundle`` or None)."""
    from zoo.bundle import MANIFEST, open_bundle
    from zoo.cards.facts import bundle_run
    from zoo.runs import CONFIG

    path = Path(path)
    if (path / MANIFEST).exists():
        bundle = open_bundle(path)
        return bundle_run(bundle), bundle
    if (path / CONFIG).exists():
        return path, None
    raise CardError(f"{path}: neither a run directory ({CONFIG}) nor an export bundle ({MANIFEST})")


def linked_files(card: Mapping[str, Any]) -> list[str]:
    """Every file the card links, relative to the card: its figures and its verification report's copy.

    They are written beside the card when it is made; whoever copies a card copies these with it.
    """
    from zoo.cards.assessed import figure_files

    report = card["parity"].get("provenance", {}).get("report")
    return [f["file"] for f in card["figures"]] + figure_files(card) + ([report] if report else [])


def make_card(source: str | Path, card_dir: Path) -> dict[str, Any]:
    """The schema-checked card of a run or bundle; the files it links are written under ``card_dir``
    (figures and the verification report's copy in ``figures/<model>/``), and it names no path of
    this machine (``facts.portable``)."""
    from zoo.cards import facts as measured
    from zoo.api import load_trained
    from zoo.cards.assessed import assessments
    from zoo.cards.figures import files_folder, make_figures

    card_dir = Path(card_dir)
    run_path, bundle = source_paths(source)
    trained = load_trained(run_path)
    spec, model, data, config, run = trained
    static = require_static(spec)
    card = assemble(spec=spec, static=static, run=run, facts=measured.model_facts(spec, model, data.info, config),
                    bundle=measured.bundle_facts(bundle),
                    parity=measured.parity(bundle, card_dir, files_folder(spec.name) / measured.REPORT),
                    figures=make_figures(spec, model, data, run, card_dir),
                    assessments=assessments(run_path, card_dir, files_folder(spec.name), trained))
    card = measured.portable(card)
    found = validate_card(card)
    if found:
        raise CardError(f"the card of {spec.name!r} does not follow the schema: {'; '.join(found)}")
    return card
