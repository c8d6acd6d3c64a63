"""The model card as a CycloneDX 1.6 ML-BOM (zoo.cards.bom): every published card's BOM passes the library's strict
validator (offline, without torch), broken ones are refused, and every number in it is the card's."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from packageurl import PackageURL

from zoo.bundle.encryption import SECTION, encrypt_bundle, generate_keypair
from zoo.cards.bom import BomError, bom_from_card, validate_bom
from zoo.errors import ZooError

CARDS = sorted((ROOT / "cards").glob("*.json"))


def card_and_manifest(name: str) -> tuple[dict, dict]:
    return (json.loads((ROOT / "cards" / f"{name}.json").read_text()),
            json.loads((ROOT / "exports" / name / "manifest.json").read_text()))


VALIDATE_PUBLISHED = textwrap.dedent("""
    import json, sys
    def no_network(event, args):  # the validator's schemas are bundled: any lookup or connection is a failure
        if event in ("socket.getaddrinfo", "socket.connect", "urllib.Request"):
            raise RuntimeError(f"network use: {event} {args}")
    sys.addaudithook(no_network)
    from pathlib import Path
    from zoo.cards.bom import bom_text
    root, summary = Path(sys.argv[1]), {}
    for card in sorted((root / "cards").glob("*.json")):
        manifest = json.loads((root / "exports" / card.stem / "manifest.json").read_text())
        summary[card.stem] = json.loads(bom_text(json.loads(card.read_text()), manifest))
    print(json.dumps({"torch": "torch" in sys.modules, "boms": summary}))
""")


def test_every_published_card_is_a_valid_ml_bom_offline_and_without_torch():
    proc = subprocess.run([sys.executable, "-c", VALIDATE_PUBLISHED, str(ROOT)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["torch"] is False and sorted(result["boms"]) == [c.stem for c in CARDS] and len(CARDS) >= 9
    for name, bom in result["boms"].items():
        card, manifest = card_and_manifest(name)
        model = bom["metadata"]["component"]
        assert (bom["bomFormat"], bom["specVersion"], model["type"], model["name"]) == \
               ("CycloneDX", "1.6", "machine-learning-model", name)
        assert {f["name"]: f["hashes"][0]["content"] for f in model["components"]} == manifest["files"]
        libraries = {c["name"]: PackageURL.from_string(c["purl"]) for c in bom["components"] if c["type"] == "library"}
        assert {n: (p.type, p.version) for n, p in libraries.items()} == {
            **{n: ("pypi", card["model_details"]["versions"][n]) for n in ("torch", "numpy", "onnx", "onnxruntime")},
            "zoo": ("generic", card["model_details"]["zoo_version"])}
        data = next(c for c in bom["components"] if c["type"] == "data")
        assert data["hashes"][0]["content"] == card["training_data"]["sha256"]
        assert {s["name"] for s in data["components"]} >= \
            {f"{card['model_details']['dataset']} {s} split" for s in card["training_data"]["splits"]}
        approach = model["modelCard"]["modelParameters"]["approach"]["type"]
        assert approach == {"classification": "supervised"}.get(card["model_details"]["task"], "unsupervised")
        risks = [r["name"] for r in model["modelCard"]["considerations"]["ethicalConsiderations"]]
        assert all(any(a["summary"] in r for r in risks) for a in card["assessments"]["safety"])


def _numbers(value) -> set[str]:
    """Every number anywhere in a JSON value, as ``str`` writes it."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, (int, float)):
        return {str(value)}
    if isinstance(value, dict):
        return set().union(*map(_numbers, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_numbers, value)) if value else set()
    return set()


NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


@pytest.mark.parametrize("name", ["cnn-digits", "ae-digits", "cgan-digits"])
def test_every_number_in_the_bom_is_the_cards_or_the_manifests(name):
    card, manifest = card_and_manifest(name)
    bom = bom_from_card(card, manifest)
    model_card = bom["metadata"]["component"]["modelCard"]
    metrics = model_card["quantitativeAnalysis"]["performanceMetrics"]
    written = [m["value"] for m in metrics] + [b for m in metrics for b in m.get("confidenceInterval", {}).values()]
    properties = [p["value"] for c in [bom["metadata"]["component"], *bom["components"]]
                  for p in c.get("properties", [])]
    properties += [p["value"] for c in bom["components"] for s in c.get("components", []) for p in s["properties"]]
    properties += [p["value"] for p in model_card["properties"]]
    numeric = [v for v in written + properties if NUMBER.fullmatch(v)]
    assert len(numeric) >= len(written) > 0 and set(numeric) <= _numbers(card) | _numbers(manifest)
    values = card["metrics"]["values"]
    key = card["metrics"]["key"]
    headline = next(m for m in metrics if m["type"] == key)
    assert headline["value"] == str(values[key])
    if key in values.get("confidence_intervals", {}):
        low, high = values["confidence_intervals"][key]
        assert headline["confidenceInterval"] == {"lowerBound": str(low), "upperBound": str(high)}


def test_spot_checks_of_exact_values():
    card, manifest = card_and_manifest("cnn-digits")
    model = bom_from_card(card, manifest)["metadata"]["component"]
    metrics = {(m["type"], m["slice"]): m for m in model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics[("accuracy", "digits test split (360 samples)")] == {
        "type": "accuracy", "value": "0.9944444444444445", "slice": "digits test split (360 samples)",
        "confidenceInterval": {"lowerBound": "0.9861111111111112", "upperBound": "1.0"}}
    assert metrics[("recall", "digits test split (360 samples), class 8 (35 samples)")]["value"] == \
        str(card["metrics"]["values"]["per_class"]["8"]["recall"]) == "0.9714285714285714"
    assert {"name": "zoo:parameters", "value": "99370"} in model["properties"]
    assert model["modelCard"]["modelParameters"]["inputs"] == [
        {"format": "input of graph model (primary): float32 (batch, 1, 8, 8)"}]
    assert model["licenses"] == [{"license": {"id": "MIT"}}]
    third_party = {**manifest, "plugin": {"name": "cnn", "distribution": "zoo-vision", "version": "2.1.0"}}
    purls = [c.get("purl") for c in bom_from_card(card, third_party)["components"]]
    assert "pkg:generic/zoo-vision@2.1.0" in purls and "pkg:generic/zoo@0.1.0" in purls


def test_a_broken_bom_is_refused_so_the_validator_is_really_consulted():
    card, manifest = card_and_manifest("cnn-digits")
    good = bom_from_card(card, manifest)
    validate_bom(json.dumps(good))

    def broken(change) -> str:
        bom = copy.deepcopy(good)
        change(bom)
        with pytest.raises(BomError) as info:
            validate_bom(bom)
        assert isinstance(info.value, ZooError) and "\n" not in str(info.value)
        return str(info.value)

    model = lambda bom: bom["metadata"]["component"]  # noqa: E731
    metric = lambda bom: model(bom)["modelCard"]["quantitativeAnalysis"]["performanceMetrics"][0]  # noqa: E731
    assert "0.99 is not of type 'string'" in broken(lambda b: metric(b).update(value=0.99))
    assert "'name' is a required property" in broken(lambda b: b["components"][-1].pop("name"))
    assert "'deep' is not one of" in broken(lambda b: model(b)["modelCard"]["modelParameters"]["approach"]
                                            .update(type="deep"))
    assert "('extra' was unexpected)" in broken(lambda b: model(b)["modelCard"].update(extra="x"))
    torch = lambda b: next(c for c in b["components"] if c["name"] == "torch")  # noqa: E731
    assert "bad package URL" in broken(lambda b: torch(b).update(purl="pkg:/torch@2.13.0"))
    assert "'data:elsewhere' is referenced" in broken(
        lambda b: model(b)["modelCard"]["modelParameters"]["datasets"].append({"ref": "data:elsewhere"}))
    refused = broken(lambda b: b.update(specVersion="1.5"))
    assert "not a CycloneDX 1.6 BOM" in refused


def test_the_bom_is_deterministic_and_names_plaintext_checksums_of_an_encrypted_bundle(tmp_path):
    card, manifest = card_and_manifest("cnn-digits")
    assert bom_from_card(card, manifest) == bom_from_card(card, manifest)
    changed = copy.deepcopy(card)
    changed["metrics"]["values"]["accuracy"] = 0.5
    assert bom_from_card(changed, manifest)["serialNumber"] != bom_from_card(card, manifest)["serialNumber"]
    def hashes(bom):
        return {f["name"]: f["hashes"] for f in bom["metadata"]["component"]["components"]}
    assert hashes(bom_from_card(card, None)) == hashes(bom_from_card(card, manifest))  # the card's list, or the manifest

    bundle = shutil.copytree(ROOT / "exports" / "cnn-digits", tmp_path / "bundle")
    generate_keypair(tmp_path / "key.pem")
    encrypt_bundle(bundle, [tmp_path / "key.pem.pub"])
    encrypted = json.loads((bundle / "manifest.json").read_text())
    files = {f["name"]: f for f in bom_from_card(card, encrypted)["metadata"]["component"]["components"]}
    assert {n: f["hashes"][0]["content"] for n, f in files.items()} == manifest["files"]  # the plaintext's
    for name in encrypted[SECTION]["files"]:
        assert {p["name"]: p["value"] for p in files[name]["properties"]} == {
            "zoo:encrypted": "AES-256-GCM", "zoo:ciphertext_sha256": encrypted["files"][name]}
    validate_bom(bom_from_card(card, encrypted))


def test_a_bundle_without_its_run_writes_its_bom_and_its_page_from_the_card_it_ships(tmp_path):
    """A deployer's bundle (a copy, its run elsewhere): `zoo card` renders the card the bundle carries, the BOM
    valid and the page with its figures beside it, instead of failing for the missing run."""
    from conftest import invoke_zoo

    bundle = shutil.copytree(ROOT / "exports" / "gru-ucr-gunpoint", tmp_path / "bundle")
    result = invoke_zoo("card", str(bundle), "--format", "cyclonedx", "--out", str(tmp_path / "g.cdx.json"))
    assert result.code == 0, result.err
    bom = json.loads((tmp_path / "g.cdx.json").read_text())
    validate_bom(bom)
    assert bom == json.loads((bundle / "card" / "card.cdx.json").read_text()), "the BOM publish wrote, again"
    assert not (tmp_path / "figures").exists(), "a BOM links no figure: none copied"
    page = invoke_zoo("card", str(bundle), "--format", "html", "--out", str(tmp_path / "page" / "g.html"))
    assert page.code == 0, page.err
    figures = sorted(p.name for p in (tmp_path / "page" / "figures" / "gru-ucr-gunpoint").iterdir())
    assert "training_curves.png" in figures and "gru-ucr-gunpoint" in (tmp_path / "page" / "g.html").read_text()
