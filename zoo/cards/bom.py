"""The model card as a CycloneDX 1.6 ML-BOM: what a compliance team's tools read instead of zoo's own schema.

``bom_from_card(card, manifest)`` is pure: every value comes from the card JSON and, when given, the
bundle's manifest (file checksums, graph dtypes, opset); the same inputs give the same BOM, byte for
byte (no timestamp; the serial number is a UUID5 of the content). The BOM holds:

- ``metadata.component``: the model (``machine-learning-model``) with its ``modelCard``: approach (from the
  task), task, architecture family and summary, the data splits it was fitted and measured on, every
  graph's inputs and outputs, the test metrics with their bootstrap intervals and the per-class ones,
  the intended use, the limitations, and the risks: the card's own and each measured safety assessment's
  summary. Its nested ``file`` components are the bundle's files with their SHA-256 (of the plaintext,
  also in an encrypted bundle, whose on-disk checksum is a property);
- ``data`` components: each dataset (its SHA-256 is the whole dataset's) holding one per split;
- the software that made the model: torch, numpy, onnx and onnxruntime as ``library`` components with
  ``pkg:pypi`` package URLs at the versions the card records, zoo itself and a third-party plugin's
  distribution (``pkg:generic``: the PyPI name ``zoo`` belongs to another project) and the Python
  interpreter as the ``platform``.

``cyclonedx-python-lib`` serialises the skeleton (components, hashes, licenses, purls, dependencies); it
does not model ``modelCard`` or a component's ``data`` (its docs: not supported), so those are added to
its JSON as plain data, and ``validate_bom`` lets the library's strict 1.6 JSON schema validator judge
the whole, plus the two things a schema cannot check: package URL syntax and references to bom-refs.

Imports: cyclonedx-python-lib, packageurl (its dependency), the standard library, and from zoo: errors,
versions, ``zoo.bundle.shape_text``, ``zoo.bundle.encryption`` (plaintext checksums) and the card renderer's
``scalar_metrics``.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any, Iterator, Mapping

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.contrib.this.builders import this_component
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from packageurl import PackageURL

from zoo import __version__
from zoo.bundle import shape_text
from zoo.bundle.encryption import SECTION, plaintext_checksums
from zoo.cards.schema import SAFETY
from zoo.cards.render import scalar_metrics
from zoo.errors import ZooError, one_line
from zoo.versions import DISTRIBUTIONS

FILE_NAME = "bom.cdx.json"  # CycloneDX's recognised file name pattern (*.cdx.json)
SPEC_VERSION = "1.6"
# CycloneDX's learning types by zoo task (zoo.specs.TASKS): a classifier learns from labels; an autoencoder
# learns to reproduce its unlabelled input; a GAN learns the data's distribution (a class-conditional one also
# takes labels, which CycloneDX's single type cannot say: the card's graph inputs show them).
APPROACH = {"classification": "supervised", "reconstruction": "unsupervised", "generation": "unsupervised"}
# BOM serial numbers are UUID5s of the BOM's content in this namespace: the same content, the same serial
_SERIALS = uuid.uuid5(uuid.NAMESPACE_URL, "https://cyclonedx.org/zoo/ml-bom")


class BomError(ZooError):
    """A BOM that the CycloneDX 1.6 schema (or a package URL or bom-ref check) refuses."""


def _props(**values: Any) -> list[Property]:
    return [Property(name=f"zoo:{k}", value=str(v)) for k, v in values.items() if v is not None]


def _sha256(digest: str) -> list[HashType]:
    return [HashType(alg=HashAlgorithm.SHA_256, content=digest)]


def _model_ref(card: Mapping[str, Any]) -> str:
    return f"model:{card['model_details']['name']}"


# ------------------------------------------------------------------------------------- the skeleton

def _files(card: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> list[Component]:
    """The bundle's files, by the manifest's checksums (plaintext ones for encrypted files), else the card's."""
    if manifest is None:
        listed = {f["file"]: f["sha256"] for f in card.get("bundle", {}).get("files", [])}
        stored: Mapping[str, str] = listed
        encrypted: Mapping[str, Any] = {}
    else:
        listed, stored = plaintext_checksums(manifest), manifest["files"]
        encrypted = (manifest.get(SECTION) or {}).get("files") or {}
    cipher = (manifest or {}).get(SECTION, {}).get("cipher")
    return [Component(type=ComponentType.FILE, name=name, bom_ref=f"file:{name}", hashes=_sha256(digest),
                      properties=_props(encrypted=cipher, ciphertext_sha256=stored[name]) if name in encrypted
                      else None)
            for name, digest in sorted(listed.items())]


def _datasets(card: Mapping[str, Any]) -> tuple[list[Component], dict[str, list[dict[str, Any]]]]:
    """One ``data`` component per dataset (by SHA-256), holding one per split, and each one's ``data`` entries
    (which the library does not model) by bom-ref: the dataset's notes from the card, a split's size."""
    training, evaluation = card["training_data"], card["evaluation_data"]
    found: dict[str, tuple[str, dict[str, int]]] = {}
    found[training["sha256"]] = (card["model_details"]["dataset"], dict(training.get("splits") or {}))
    name, splits = found.setdefault(evaluation["sha256"], (evaluation["name"], {}))
    splits.setdefault(evaluation["split"], evaluation["size"])
    trained_on = {**(training.get("notes") or {}), "layout": training.get("layout"),
                  "sample_shape": training.get("sample_shape"), "num_classes": training.get("num_classes")}
    components, entries = [], {}
    for digest, (name, splits) in found.items():
        notes = trained_on if digest == training["sha256"] else {"source": evaluation.get("source")}
        parts = []
        for split, size in splits.items():
            ref, augmentation = f"data:{name}:{split}", training.get("augmentation") if split == "train" else None
            parts.append(Component(type=ComponentType.DATA, name=f"{name} {split} split", bom_ref=ref,
                                   properties=_props(samples=size)))
            entries[ref] = [{"type": "dataset", "name": f"{name} {split} split", "description": f"{size} samples"
                             + (f"; augmentation: {augmentation}" if augmentation else "")}]
        components.append(Component(type=ComponentType.DATA, name=name, bom_ref=f"data:{name}",
                                    hashes=_sha256(digest), components=parts))
        properties = [{"name": f"zoo:{k}", "value": v if isinstance(v, str) else json.dumps(v)}
                      for k, v in notes.items() if v is not None]
        entries[f"data:{name}"] = [{"type": "dataset", "name": name, "contents": {"properties": properties},
                                    **({"description": notes["source"]} if notes.get("source") else {})}]
    return components, entries


def _software(card: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> list[Component]:
    """The packages whose versions the card (or manifest) records, with package URLs; the plugin's
    distribution too when it is not zoo's own. zoo and plugins get ``pkg:generic`` URLs: a distribution
    is not known to be on PyPI (and PyPI's ``zoo`` is another project)."""
    versions = card["model_details"].get("versions") or (manifest or {}).get("versions") or {}
    plugin = (manifest or {}).get("plugin")
    if isinstance(plugin, dict) and plugin.get("distribution") not in (None, "zoo") and plugin.get("version"):
        versions = {**versions, plugin["distribution"]: plugin["version"]}
    found = []
    for name, version in versions.items():
        if not version:
            continue
        if name in DISTRIBUTIONS:
            found.append(Component(type=ComponentType.LIBRARY, name=DISTRIBUTIONS[name][0], version=version,
                                   bom_ref=f"pkg:{name}", purl=PackageURL("pypi", name=DISTRIBUTIONS[name][0],
                                                                          version=version)))
        elif name == "python":  # the interpreter
            found.append(Component(type=ComponentType.PLATFORM, name=name, version=version, bom_ref=f"pkg:{name}"))
        else:  # zoo, and a plugin's distribution
            found.append(Component(type=ComponentType.LIBRARY, name=name, version=version, bom_ref=f"pkg:{name}",
                                   purl=PackageURL("generic", name=name, version=version)))
    return found


def _model(card: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> Component:
    details = card["model_details"]
    licenses = [LicenseFactory().make_from_string(details["license"])] if details.get("license") else None
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, name=details["name"], bom_ref=_model_ref(card),
        description=details["description"], licenses=licenses, components=_files(card, manifest),
        properties=_props(family=details["family"], plugin=details["plugin"], parameters=details.get("parameters"),
                          onnx_opset=(manifest or {}).get("opset"), exporter=(manifest or {}).get("exporter"),
                          parity=card.get("parity", {}).get("summary"),
                          signature=card.get("bundle", {}).get("signature", {}).get("status")))


# ----------------------------------------------------------------- what the library does not model

def _io(card: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> tuple[list[dict], list[dict]]:
    """Each graph's inputs and outputs as CycloneDX formats: name, graph, dtype (from the manifest), shape."""
    graphs = (manifest or {}).get("graphs") or card["model_details"]["graphs"]
    def formats(key: str) -> list[dict[str, str]]:
        return [{"format": f"{item['name']} of graph {graph['name']} ({graph['role']}): "
                           f"{item.get('dtype', 'tensor')} {shape_text(item['shape'])}"}
                for graph in graphs for item in graph[key]]
    return formats("inputs"), formats("outputs")


def _metrics(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The test metrics (values as strings, as CycloneDX wants), their intervals, then the per-class ones."""
    values, evaluation = card["metrics"]["values"], card["evaluation_data"]
    intervals = values.get("confidence_intervals") or {}
    where = f"{evaluation['name']} {evaluation['split']} split ({evaluation['size']} samples)"
    found = []
    for name, value in scalar_metrics(card).items():
        metric: dict[str, Any] = {"type": name, "value": str(value), "slice": where}
        if isinstance(intervals.get(name), list):
            low, high = intervals[name]
            metric["confidenceInterval"] = {"lowerBound": str(low), "upperBound": str(high)}
        found.append(metric)
    for label, per in (values.get("per_class") or {}).items():
        size = f" ({per['support']} samples)" if "support" in per else ""
        found += [{"type": name, "value": str(value), "slice": f"{where}, class {label}{size}"}
                  for name, value in per.items() if name != "support"]
    return found


def _considerations(card: Mapping[str, Any]) -> dict[str, Any]:
    intended, ethics = card["intended_use"], card.get("ethical_considerations") or {}
    safety = (card.get("assessments") or {}).get("safety") or []
    limits = [card.get("caveats_and_recommendations"), card.get("factors"),
              f"Out of scope: {intended['out_of_scope']}" if intended.get("out_of_scope") else None]
    risks = [{"name": ethics[key]} for key in (*SAFETY, *ethics) if ethics.get(key)]
    risks = [dict(t) for t in dict.fromkeys(tuple(r.items()) for r in risks)]  # SAFETY's order, each once
    risks += [{"name": f"{a['title']} (measured): {a['summary']}"} for a in safety
              if a.get("status") == "ok" and a.get("summary")]
    found = {"useCases": [intended["primary"]], "technicalLimitations": [t for t in limits if t],
             "ethicalConsiderations": risks}
    return {k: v for k, v in found.items() if v}


def model_card(card: Mapping[str, Any], manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The CycloneDX ``modelCard`` object of a zoo card."""
    details, provenance = card["model_details"], card["metrics"]["provenance"]
    inputs, outputs = _io(card, manifest)
    datasets = [{"ref": split.bom_ref.value} for d in _datasets(card)[0] for split in d.components]
    parameters = {"task": details["task"], "architectureFamily": details["family"],
                  "modelArchitecture": details["summary"], "datasets": datasets, "inputs": inputs, "outputs": outputs}
    if details["task"] in APPROACH:
        parameters = {"approach": {"type": APPROACH[details["task"]]}, **parameters}
    intervals = card["metrics"]["values"].get("confidence_intervals") or {}
    return {"bom-ref": f"{_model_ref(card)}:card", "modelParameters": parameters,
            "quantitativeAnalysis": {"performanceMetrics": _metrics(card)},
            "considerations": _considerations(card),
            "properties": [p for p in ({"name": "zoo:metrics_seed", "value": str(provenance.get("seed"))},
                                       {"name": "zoo:confidence_level", "value": str(intervals.get("level"))},
                                       {"name": "zoo:confidence_resamples", "value": str(intervals.get("resamples"))})
                           if p["value"] != "None"]}


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])


def bom_from_card(card: Mapping[str, Any], manifest: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The card (and the bundle's manifest, when there is one) as a CycloneDX 1.6 ML-BOM, a JSON-ready dict."""
    (datasets, data_entries), model, software = _datasets(card), _model(card, manifest), _software(card, manifest)
    zoo_tool = Component(type=ComponentType.APPLICATION, name="zoo", version=__version__)
    bom = Bom(metadata=BomMetaData(component=model, tools=[]), components=[*datasets, *software])
    library = this_component()
    # its eight project links: each costs the validator's IRI grammar (lark, Earley) about 0.1 s to parse
    library.external_references.clear()
    bom.metadata.tools.components.update([zoo_tool, library])
    bom.dependencies.add(Dependency(ref=model.bom_ref, dependencies=[
        Dependency(ref=c.bom_ref) for c in [*datasets, *software]]))
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    document["metadata"].pop("timestamp", None)
    document["metadata"]["component"]["modelCard"] = model_card(card, manifest)
    for component in _walk(document.get("components") or []):
        if component.get("bom-ref") in data_entries:
            component["data"] = data_entries[component["bom-ref"]]
    document.pop("serialNumber", None)
    serial = uuid.uuid5(_SERIALS, json.dumps(document, sort_keys=True))
    return {"bomFormat": document.pop("bomFormat"), "specVersion": document.pop("specVersion"),
            "serialNumber": serial.urn, **document}


# ------------------------------------------------------------------------------------- validation

@lru_cache(maxsize=1)
def _validator():
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def validate_bom(bom: str | Mapping[str, Any]) -> None:
    """Refuse (one ``BomError`` line) a BOM that is not valid CycloneDX 1.6 JSON by the library's strict
    validator, that has a package URL which does not parse, or a bom-ref used twice or referenced but absent."""
    text = bom if isinstance(bom, str) else json.dumps(bom)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BomError(f"not a CycloneDX BOM: not JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("specVersion") != SPEC_VERSION:
        raise BomError(f"not a CycloneDX {SPEC_VERSION} BOM (specVersion {document.get('specVersion')!r})"
                       if isinstance(document, dict) else "not a CycloneDX BOM: not a JSON object")
    error = _validator().validate_str(text)
    if error is not None:
        data = error.data
        where, why = getattr(data, "json_path", "$"), _short(getattr(data, "message", str(data)))
        raise BomError(f"not a valid CycloneDX {SPEC_VERSION} BOM at {where}: {why}")
    components = [c for c in _walk([document.get("metadata", {}).get("component") or {}]) if c] + \
        list(_walk(document.get("components") or []))
    refs: list[str] = []
    for component in components:
        if "purl" in component:
            try:
                PackageURL.from_string(component["purl"])
            except ValueError as exc:
                raise BomError(f"not a valid CycloneDX {SPEC_VERSION} BOM: component {component.get('name')!r} "
                               f"has a bad package URL ({one_line(exc)})") from None
        refs += [component["bom-ref"]] if "bom-ref" in component else []
        refs += [component["modelCard"]["bom-ref"]] if "bom-ref" in component.get("modelCard", {}) else []
    twice = sorted({r for r in refs if refs.count(r) > 1})
    if twice:
        raise BomError(f"not a valid CycloneDX {SPEC_VERSION} BOM: bom-ref {twice[0]!r} is used twice")
    used = [d["ref"] for d in document.get("dependencies") or []]
    used += [r for d in document.get("dependencies") or [] for r in d.get("dependsOn") or []]
    used += [d["ref"] for c in components for d in c.get("modelCard", {}).get("modelParameters", {})
             .get("datasets", []) if "ref" in d]
    missing = sorted(set(used) - set(refs))
    if missing:
        raise BomError(f"not a valid CycloneDX {SPEC_VERSION} BOM: {missing[0]!r} is referenced but no component "
                       f"has that bom-ref")


def bom_text(card: Mapping[str, Any], manifest: Mapping[str, Any] | None = None) -> str:
    """The validated BOM as JSON text (2-space indent, newline-terminated): what ``zoo card --format cyclonedx``
    prints and a published bundle keeps as ``card/bom.cdx.json``."""
    text = json.dumps(bom_from_card(card, manifest), indent=2) + "\n"
    validate_bom(text)
    return text
