"""The facts and measurements a card quotes beside the run's metrics: the built model, the run's
training data treatment, the bundle and its verification report.

Facts about the model are computed from the module the family builds (the same graphs the
exporter writes), never taken from a plugin's text; facts about a bundle are read through
``zoo.bundle.open_bundle``, which checks every checksum first, so a card never quotes a damaged
bundle. A card is read on other machines, so it names no path of the machine that made it: a
run goes by its run id (the run directory's name), a bundle by its folder's name, a report by
its copy beside the card, and ``portable`` rewrites any absolute path left in quoted text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from zoo.bundle import VERIFICATION, Bundle
from zoo.errors import ZooError
from zoo.fsutil import atomic_write_json, portable, read_json

REPORT = "verification.json"  # the card's portable copy of that report, beside the card's figures
NOT_EXPORTED = {"status": "not exported"}
NOT_VERIFIED = {"status": "not verified"}
INPUT_FACTS = ("name", "dtype", "shape", "ranges", "axis")  # a graph input in the card (axis: what a lengths input measures)

def parameter_count(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _shape(shape, axes: Mapping[int, str]) -> list[int | str]:
    return [axes.get(i, int(d)) for i, d in enumerate(shape)]


def model_facts(spec, model, info, config: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter count, and each export graph's role, inputs and outputs with their dynamic axes named."""
    import torch

    from zoo.models import onnx_graphs

    model.eval()
    graphs = onnx_graphs(spec, model, info, config)
    described = []
    for graph in graphs:
        with torch.no_grad():
            result = graph.module(*[i.example for i in graph.inputs])
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        axes = graph.dynamic_axes()
        described.append({
            "name": graph.name,
            "role": graph.role,
            "parameters": parameter_count(graph.module),
            "inputs": [{"name": i.name, "shape": _shape(i.example.shape, axes[i.name])} for i in graph.inputs],
            "outputs": [{"name": n, "shape": _shape(t.shape, axes[n])} for n, t in zip(graph.outputs, results)],
        })
    return {"parameters": parameter_count(model), "graphs": described}


def augmentation(task: str, layout: str, config: Mapping[str, Any]) -> str | None:
    """What training did to the samples, from the run's resolved config; None where the core cannot say.

    The key is the core's (``zoo.config.CORE_KEYS['shift']``) and its reader is the classifier
    recipe (``zoo.recipes.train_classifier`` -> ``random_shift``), so the sentence is the core's
    to write, for classifiers, and a plugin's card text never restates it.
    """
    if task != "classification":
        return None
    shift = int(config.get("shift", 0))
    if shift <= 0:
        return "none: training uses the samples as they are (`shift` = 0)"
    plural = "" if shift == 1 else "s"
    if layout != "sequence":
        moved = f"{shift} pixel{plural} in each direction"
    elif config.get("shift_features"):
        moved = (f"{shift} step{plural} in time and in features, as pixels of an image read row by row "
                 f"(`shift_features`)")
    else:
        moved = f"{shift} time step{plural} earlier or later (features stay as they are)"
    return (f"random shifts of up to {moved}, zero-filled, drawn anew for each training batch "
            f"(`shift` = {shift}); during training only: validation and test samples are used as they are")


def bundle_facts(bundle: Bundle | None) -> dict[str, Any]:
    """The bundle's graphs, ONNX sizes, variants and the SHA-256 of each file, as its (checked) manifest
    records them."""
    if bundle is None:
        return dict(NOT_EXPORTED)
    manifest, root = bundle.manifest, bundle.path
    sizes = {name: (root / name).stat().st_size for name in manifest["files"]}
    variants = [{"variant": name, "graph": g["name"], "file": v["file"], "bytes": sizes[v["file"]],
                 "method": v.get("method", "-"), "note": v.get("note", "-")}
                for name in bundle.variants for g in manifest["graphs"]
                for v in [(g.get("variants") or {}).get(name)] if v]
    # names, dtypes and shapes (dynamic axes named, their declared ranges, the axis a lengths input measures, and
    # the lengths the test vectors have): what the card's "Use it" section writes its calls from
    graphs = [{"name": g["name"], "role": g.get("role"), "file": g["file"], "bytes": sizes[g["file"]],
               "inputs": [{key: i[key] for key in INPUT_FACTS if key in i} for i in g["inputs"]],
               "outputs": [{key: o[key] for key in ("name", "dtype", "shape") if key in o} for o in g["outputs"]],
               "example_lengths": graph.export_lengths()}
              for g, graph in zip(manifest["graphs"], bundle.graphs)]
    return {
        "status": "exported", "name": root.resolve().name, "model": manifest["model"], "format": manifest["format"],
        "opset": manifest.get("opset"), "exporter": manifest.get("exporter"),
        "onnx_bytes": sum(g["bytes"] for g in graphs), "graphs": graphs,
        "variants": bundle.variants, "variant_files": variants,
        "files": [{"file": name, "bytes": sizes[name], "sha256": digest} for name, digest in manifest["files"].items()],
        "checksums": "verified against the files",
        **({"preprocessing": manifest["preprocessing"]} if manifest.get("preprocessing") else {}),
    }


def _provider_result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ran = [r for r in rows if r["status"] != "skipped"]
    diffs = [r.get("max_abs", r.get("max_abs_diff")) for r in ran]
    return {"result": "skipped" if not ran else "pass" if all(r["status"] == "pass" for r in ran) else "fail",
            "checks": len(ran), "failed": sum(r["status"] == "fail" for r in ran),
            "max_abs_diff": max((d for d in diffs if d is not None), default=None)}


def parity(bundle: Bundle | None, card_dir: Path, copy: Path) -> dict[str, Any]:
    """The bundle's ``zoo verify`` report summarised per provider, else 'not verified'.

    The card links the report, so a portable copy of it (no paths of this machine) is written to
    ``card_dir / copy`` and the card names it by that relative path: the link opens wherever the
    card's folder goes (a bundle's ``card/``, the repository's ``cards/``).
    """
    if bundle is None or not (bundle.path / VERIFICATION).exists():
        return dict(NOT_VERIFIED)
    try:
        report = read_json(bundle.path / VERIFICATION)
    except (OSError, ValueError) as exc:
        raise ZooError(f"{bundle.path / VERIFICATION}: unreadable verification report ({exc})") from None
    report = portable({**report, "bundle": bundle.path.resolve().name})
    atomic_write_json(Path(card_dir) / copy, report)
    rows = [r for r in report["checks"] + report["task"] if not r.get("variant")]  # variants: the Deployment section
    providers = {mode: {**_provider_result([r for r in rows if r["provider"] == mode]), "session": info["status"]}
                 for mode, info in report["providers"].items()}
    from zoo.bundle.verify import summary

    return {"status": "verified" if report["passed"] else "not verified", "summary": summary(report),
            "providers": providers, "deployment": report.get("deployment"),
            "provenance": {"report": Path(copy).as_posix(), "reference": report["reference"],
                           "checksums": report["checksums"]}}


def signature_facts(bundle: Bundle, signer: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card's signature line: signed (by the key ``signer`` describes, with the card inside what it
    signs), a signature older than this card (so no longer matching), or not signed.

    A card is signed with its bundle, so it is written before the signature: ``signer`` is the key
    about to sign (``zoo publish --sign-key``, ``zoo sign``), never a secret, only its fingerprint.
    """
    from zoo.bundle.signing import SIGNATURE, library

    if signer is not None:
        return {"status": "signed", "signature": SIGNATURE, "fingerprint": signer["fingerprint"],
                "algorithm": signer["algorithm"], "library": library()}
    if (bundle.path / SIGNATURE).exists():
        return {"status": "stale", "signature": SIGNATURE,
                "note": "the bundle's signature predates this card and no longer matches; sign it again (zoo sign)"}
    return {"status": "not signed"}


def privacy(run) -> dict[str, Any] | None:
    """A private run's guarantee and measured leak (metrics.json), the layers changed for Opacus (config.json)
    and the guarantee in plain words; None for a run trained without differential privacy."""
    from zoo.options.privacy import plain_words

    measured = run.metrics()
    spent = measured.get("privacy")
    if spent is None:
        return None
    baseline = measured.get("baseline")
    return {**spent, "meaning": plain_words(spent["epsilon"], spent["delta"]),
            "layers_changed": run.record.get("privacy", {}).get("layers_changed", []),
            "accuracy": measured["metrics"].get("accuracy"),
            "baseline": baseline if baseline and "membership_inference" in baseline else None}


def distillation(run) -> dict[str, Any] | None:
    """A distilled run's teacher (by run id and weights checksum), settings and the accuracies to compare:
    the teacher's, the student's with the teacher, and without it when a baseline run was measured."""
    measured = run.metrics()
    taught = measured.get("distillation")
    if taught is None:
        return None
    return {**taught, "accuracy": measured["metrics"].get("accuracy"), "baseline": measured.get("baseline")}


def fine_tuning(run) -> dict[str, Any] | None:
    """What a fine-tuned run (``--init``) started from: the base model's name, where its weights came from (a
    published name, a run id or a bundle's folder name, never a path) and their SHA-256, the head made afresh
    and what was frozen; None for a run trained from scratch."""
    start = run.record.get("init")
    if not start:
        return None
    keep = ("source", "kind", "model", "weights_sha256", "head", "replaced", "frozen_parameters", "freeze")
    return {key: start.get(key) for key in keep}
