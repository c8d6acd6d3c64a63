"""A card assembled from its three sources, so that no number is ever typed in by hand:

* static text from the family's ``zoo_model_card`` hook, merged with its dataset's notes (``static``);
* facts computed from the built model (parameters, graph input and output shapes) and from
  the ONNX bundle when there is one (file sizes, checksums) (``facts``);
* measurements read from the run (``metrics.json``, history, config), its assessments and the bundle's
  verification report, each with its provenance (``facts``, ``figures``, ``assessed``).

A card is portable: it names runs by run id and bundles by name, never by a path of the machine
that made it, and links only files that sit beside it (its figures and its copy of the
verification report, listed by ``linked_files``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo import __version__
from zoo.bundle import MANIFEST, Bundle, open_bundle
from zoo.cards import facts as card_facts
from zoo.cards.assessed import assessments, figure_files
from zoo.cards.figures import files_folder, make_figures
from zoo.cards.schema import SCHEMA_ID, CardError, key_metric, validate_card
from zoo.cards.static import DEFAULT_FACTORS, require_static

NOT_DECLARED = "not declared"  # a model whose plugin names no licence: never zoo's own by default
from zoo.fsutil import portable
from zoo.metrics import nearest_neighbour_accuracy
from zoo.registry import get_dataset
from zoo.runs import CONFIG, run_id
from zoo.specs import LAYOUT_MODALITY, LEARNED, NEAREST_NEIGHBOUR, DatasetSpec, ModelSpec

# The goals a model of a dataset with published results is held to (zoo's issue 23): at least the best published
# nearest-neighbour baseline, and within this much accuracy of the best published learned model.
GOAL_MARGIN = 0.03
ONE_NN_ED = "1-NN ED"  # the published baseline zoo recomputes: the row of this name is compared digit by digit
COMPUTED_BY_ZOO = "computed by zoo"

def _quantitative(metrics: Mapping[str, Any]) -> dict[str, Any]:
    parts = {k: metrics[k] for k in ("per_class", "confidence_intervals", "confusion_matrix") if k in metrics}
    if "per_class" not in parts:
        parts["note"] = "This model has no class-level results; the scalar metrics above are all there is."
    return parts


def nearest_neighbour_baseline(data) -> dict[str, Any]:
    """zoo's own 1-NN ED (``zoo.metrics.nearest_neighbour_accuracy``) on a dataset's split: fit on the train and
    validation splits together (a given training part, from which zoo draws its validation split, whole again),
    scored on the test split; "not defined" where the series differ in length (no padding)."""
    train, val, test = data.train, data.val, data.test
    how = (f"1-nearest-neighbour with Euclidean distance on the flattened series (scikit-learn KNeighborsClassifier, "
           f"n_neighbors=1), fit on the train and validation splits together ({len(train) + len(val)} samples: the "
           f"whole training part) and scored on the test split ({len(test)})")
    found = {"method": ONE_NN_ED, "how": how, "provenance": f"{COMPUTED_BY_ZOO} {__version__}",
             "data_sha256": data.sha256}
    if any(part.lengths is not None for part in (train, val, test)):
        return {**found, "accuracy": None,
                "note": (f"not defined: the series differ in length ({data.info.min_length} to "
                         f"{data.info.max_length} steps), and Euclidean distance compares series of one length "
                         f"(padding them would change it)")}
    accuracy = nearest_neighbour_accuracy(np.concatenate([train.x, val.x]), np.concatenate([train.y, val.y]),
                                          test.x, test.y)
    return {**found, "accuracy": accuracy}


def _digits(text: str) -> int:
    return len(text.partition(".")[2])


def _goal(goal: str, reference: Mapping[str, Any], target: float, accuracy: float) -> dict[str, Any]:
    margin = round(accuracy - target, 6)
    return {"goal": goal, "reference": {k: reference[k] for k in ("method", "accuracy", "source")},
            "target": round(target, 6), "met": margin >= 0, "margin": margin}


def published_comparison(dataset: DatasetSpec, data, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The card's comparison with the results published for the dataset's own split (``DatasetSpec.published``):
    the published rows, zoo's 1-NN ED computed afresh (and whether it equals the published one to its last digit),
    the model's accuracy with its interval, and the goals it meets or misses and by how much. None where the
    dataset declares no published results or the model has no accuracy."""
    if not dataset.published or not isinstance(metrics.get("accuracy"), (int, float)):
        return None
    rows = [dict(row) for row in dataset.published]
    computed = nearest_neighbour_baseline(data)
    published_ed = next((row for row in rows if row["method"] == ONE_NN_ED), None)
    if published_ed is not None and computed["accuracy"] is not None:
        text = published_ed["accuracy"]
        computed["published"] = text
        computed["equals_published"] = round(computed["accuracy"], _digits(text)) == float(text)
    accuracy = float(metrics["accuracy"])
    intervals = metrics.get("confidence_intervals") or {}
    goals = []
    best = {kind: max((row for row in rows if row["kind"] == kind), key=lambda row: float(row["accuracy"]),
                      default=None) for kind in (NEAREST_NEIGHBOUR, LEARNED)}
    if best[NEAREST_NEIGHBOUR]:
        row = best[NEAREST_NEIGHBOUR]
        goals.append(_goal("at least the best published nearest-neighbour baseline", row, float(row["accuracy"]),
                           accuracy))
    if best[LEARNED]:
        row = best[LEARNED]
        goals.append(_goal(f"within {GOAL_MARGIN:g} of the best published learned model", row,
                           float(row["accuracy"]) - GOAL_MARGIN, accuracy))
    return {"dataset": dataset.name, "split": "test", "test_size": len(data.test), "published": rows,
            "computed": computed,
            "model": {"accuracy": accuracy, "interval": intervals.get("accuracy"), "level": intervals.get("level")},
            "goals": goals}


def assemble(*, spec: ModelSpec, static: Mapping[str, Any], run, facts: Mapping[str, Any],
             bundle: Mapping[str, Any], parity: Mapping[str, Any], figures: list[dict[str, str]],
             assessments: Mapping[str, Any], published: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole card from its three sources; pure, so a test can check every field's origin. ``published``:
    the comparison with published results (``published_comparison``), where the dataset has any."""
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
            "license": static.get("license") or NOT_DECLARED, "dataset": spec.dataset,
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
                          "class_names": record["data"].get("class_names") or [],
                          "modality": record["data"].get("modality") or LAYOUT_MODALITY[record["data"]["layout"]],
                          "augmentation": card_facts.augmentation(spec.task, record["data"]["layout"],
                                                                  record["config"])},
        "training": {"config": record["config"], "seconds": measured["train_seconds"], "epochs": len(history),
                     "hardware": record.get("hardware"),
                     "history": history, "provenance": {"run": provenance["run"]}},
        "quantitative_analyses": _quantitative(metrics),
        **{key: value for key, value in (("privacy", card_facts.privacy(run)),
                                         ("distillation", card_facts.distillation(run)),
                                         ("published_results", published)) if value},
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
    path = Path(path)
    if (path / MANIFEST).exists():
        bundle = open_bundle(path)
        return bundle.run_path(), bundle
    if (path / CONFIG).exists():
        return path, None
    raise CardError(f"{path}: neither a run directory ({CONFIG}) nor an export bundle ({MANIFEST})")


def linked_files(card: Mapping[str, Any]) -> list[str]:
    """Every file the card links, relative to the card: its figures and its verification report's copy.

    They are written beside the card when it is made; whoever copies a card copies these with it.
    """
    report = card["parity"].get("provenance", {}).get("report")
    return [f["file"] for f in card["figures"]] + figure_files(card) + ([report] if report else [])


def make_card(source: str | Path, card_dir: Path) -> dict[str, Any]:
    """The schema-checked card of a run or bundle; the files it links are written under ``card_dir``
    (figures and the verification report's copy in ``figures/<model>/``), and it names no path of
    this machine (``zoo.fsutil.portable``)."""
    from zoo.models import load_trained  # torch: only when a card is made, not when one is read or signed

    card_dir = Path(card_dir)
    run_path, bundle = source_paths(source)
    trained = load_trained(run_path)
    spec, model, data, config, run = trained
    static = require_static(spec)
    card = assemble(spec=spec, static=static, run=run, facts=card_facts.model_facts(spec, model, data.info, config),
                    bundle=card_facts.bundle_facts(bundle),
                    parity=card_facts.parity(bundle, card_dir, files_folder(spec.name) / card_facts.REPORT),
                    figures=make_figures(spec, model, data, run, card_dir),
                    assessments=assessments(run_path, card_dir, files_folder(spec.name), trained),
                    published=None if run.data_path is not None else published_comparison(
                        get_dataset(spec.dataset), data, run.metrics()["metrics"]))
    card = portable(card)
    found = validate_card(card)
    if found:
        raise CardError(f"the card of {spec.name!r} does not follow the schema: {'; '.join(found)}")
    return card
