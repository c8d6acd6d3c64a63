"""A card assembled from its three sources, so that no number is ever typed in by hand:

* static text from the family's ``zoo_model_card`` hook, merged with its dataset's notes (``static``);
* facts computed from the built model (parameters, graph input and output shapes) and from
  the ONNX bundle when there is one (file sizes, checksums) (``facts``);
* measurements read from the run (``metrics.json``, history, config), its assessments and the bundle's
  verification report, each with its provenance (``facts``, ``figures``, ``assessed``);
* the comparison with results published for the dataset's own split, where it has any (``published``).

A card is portable: it names runs by run id and bundles by name, never by a path of the machine
that made it, and links only files that sit beside it (its figures and its copy of the
verification report, listed by ``linked_files``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


from zoo import __version__
from zoo.bundle import MANIFEST, Bundle, open_bundle
from zoo.cards import facts as card_facts
from zoo.cards.assessed import assessments, figure_files
from zoo.cards.figures import files_folder, make_figures
from zoo.cards.published import published_comparison
from zoo.cards.schema import SCHEMA_ID, CardError, key_metric, validate_card
from zoo.cards.static import DEFAULT_FACTORS, require_static

NOT_DECLARED = "not declared"  # a model whose plugin names no licence: never zoo's own by default
from zoo.fsutil import portable
from zoo.registry import get_dataset
from zoo.runs import CONFIG, run_id
from zoo.specs import LAYOUT_MODALITY, ModelSpec

def _quantitative(metrics: Mapping[str, Any]) -> dict[str, Any]:
    parts = {k: metrics[k] for k in ("per_class", "confidence_intervals", "confusion_matrix") if k in metrics}
    if "per_class" not in parts:
        parts["note"] = "This model has no class-level results; the scalar metrics above are all there is."
    return parts


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
                                                                  record["config"]),
                          **({"skipped": list(record["data"]["skipped"])} if record["data"].get("skipped") else {})},
        "training": {"config": record["config"], "seconds": measured["train_seconds"], "epochs": len(history),
                     "hardware": record.get("hardware"),
                     "history": history, "provenance": {"run": provenance["run"]}},
        "quantitative_analyses": _quantitative(metrics),
        **{key: value for key, value in (("privacy", card_facts.privacy(run)),
                                         ("distillation", card_facts.distillation(run)),
                                         ("fine_tuning", card_facts.fine_tuning(run)),
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
