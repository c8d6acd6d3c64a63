"""The facts and measurements a card quotes that do not come from the run: the built model and the bundle.

Facts about the model are computed from the module the family builds (the same graphs the
exporter writes), never taken from a plugin's text; facts about a bundle are read from its
files (ONNX graphs, sizes, SHA-256) and its verification report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from zoo.errors import ZooError
from zoo.fsutil import read_json

MANIFEST = "manifest.json"
CARD_DIR = "card"  # inside a bundle: card.md/.json/.html, figures/ and the verification report
VERIFICATION = f"{CARD_DIR}/verification.json"
NOT_EXPORTED = {"status": "not exported"}
NOT_VERIFIED = {"status": "not verified"}


def parameter_count(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _shape(shape, axes: Mapping[int, str]) -> list[int | str]:
    return [axes.get(i, int(d)) for i, d in enumerate(shape)]


def model_facts(spec, model, info, config: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter count, and each export graph's inputs and outputs with their dynamic axes named."""
    import torch

    from zoo.api import onnx_graphs

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
            "parameters": parameter_count(graph.module),
            "inputs": [{"name": i.name, "shape": _shape(i.example.shape, axes[i.name])} for i in graph.inputs],
            "outputs": [{"name": n, "shape": _shape(t.shape, axes[n])} for n, t in zip(graph.outputs, results)],
        })
    return {"parameters": parameter_count(model), "graphs": described}


def bundle_facts(bundle: Path | None) -> dict[str, Any]:
    """The bundle's graphs, ONNX sizes and the SHA-256 of each file, as its manifest records them.

    Every recorded checksum is checked against the file first: a card never quotes a damaged bundle.
    """
    from zoo.bundle import sha256_file

    if bundle is None:
        return dict(NOT_EXPORTED)
    manifest = _read(bundle / MANIFEST, "bundle manifest")
    for name, digest in manifest["files"].items():
        if not (bundle / name).is_file() or sha256_file(bundle / name) != digest:
            raise ZooError(f"{bundle / name}: missing or checksum mismatch (damaged since export)")
    sizes = {name: (bundle / name).stat().st_size for name in manifest["files"]}
    graphs = [{"name": g["name"], "file": g["file"], "bytes": sizes[g["file"]],
               "inputs": [{"name": i["name"], "shape": i["shape"]} for i in g["inputs"]],
               "outputs": [{"name": o["name"], "shape": o["shape"]} for o in g["outputs"]]}
              for g in manifest["graphs"]]
    return {
        "status": "exported", "path": str(bundle), "format": manifest["format"],
        "opset": manifest.get("opset"), "exporter": manifest.get("exporter"),
        "onnx_bytes": sum(g["bytes"] for g in graphs), "graphs": graphs,
        "files": [{"file": name, "bytes": sizes[name], "sha256": digest} for name, digest in manifest["files"].items()],
        "checksums": "verified against the files",
    }


def _read(path: Path, what: str) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise ZooError(f"{path}: unreadable {what} ({exc})") from None


def bundle_run(bundle: Path) -> Path:
    """The run a bundle was exported from, as its manifest records it."""
    manifest = _read(bundle / MANIFEST, "bundle manifest")
    run = manifest.get("run") if isinstance(manifest, dict) else None
    run = run.get("path") if isinstance(run, dict) else run
    if not isinstance(run, str) or not run:
        raise ZooError(f"{bundle / MANIFEST}: names no run to take the metrics from")
    for candidate in (Path(run), bundle / run):
        if (candidate / "config.json").exists():
            return candidate
    raise ZooError(f"{bundle / MANIFEST}: its run {run} is not there any more")


def _provider_result(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ran = [r for r in rows if r["status"] != "skipped"]
    diffs = [r.get("max_abs", r.get("max_abs_diff")) for r in ran]
    return {"result": "skipped" if not ran else "pass" if all(r["status"] == "pass" for r in ran) else "fail",
            "checks": len(ran), "failed": sum(r["status"] == "fail" for r in ran),
            "max_abs_diff": max((d for d in diffs if d is not None), default=None)}


def parity(bundle: Path | None) -> dict[str, Any]:
    """The ``zoo verify`` report stored in the bundle, summarised per provider; else 'not verified'."""
    if bundle is None or not (bundle / VERIFICATION).exists():
        return dict(NOT_VERIFIED)
    report = _read(bundle / VERIFICATION, "verification report")
    rows = report["checks"] + report["task"]
    providers = {mode: {**_provider_result([r for r in rows if r["provider"] == mode]), "session": info["status"]}
                 for mode, info in report["providers"].items()}
    return {"status": "verified" if report["passed"] else "failed", "providers": providers,
            "provenance": {"report": str(bundle / VERIFICATION), "reference": report["reference"],
                           "checksums": report["checksums"]}}
