"""A third-party family written from the README alone, installed with pip as an author would: a Transformer
encoder (examples/zoo-transformer) lists, trains, exports, verifies and publishes with `zoo publish NAME`, no
exporter named. The TorchScript-based exporter freezes time inside attention, so zoo picks dynamo for it,
says so, strips the graph of this machine's paths, and its own dataset gets class names, licence and Hub task."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from conftest import ROOT, run_zoo

from zoo.bundle.machine_metadata import machine_paths

NAME = "transformer-waves"
SMALL = ["--epochs", "3", "--set", "d_model=16", "--set", "dim_feedforward=32", "--set", "num_layers=1",
         "--set", "nhead=2"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(ROOT / "examples" / "zoo-transformer")],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    return {"PYTHONPATH": str(target), "ZOO_ASSESS_BUDGET": "0.05"}


@pytest.mark.slow
def test_a_transformer_family_publishes_with_no_flag_but_its_folders(site, tmp_path):
    plugins = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json", env=site).out)}
    assert plugins["transformer"]["status"] == "ok" and plugins["transformer"]["card"]["complete"]
    assert NAME in {m["name"] for m in json.loads(run_zoo("list", "--json", env=site).out)}
    cards, exports = tmp_path / "cards", tmp_path / "exports"
    result = run_zoo("publish", NAME, *SMALL, "--out", str(cards), "--runs", str(tmp_path / "runs"),
                     "--exports", str(exports), env=site)
    assert result.code == 0, result.err
    manifest = json.loads((exports / NAME / "manifest.json").read_text())
    [graph] = manifest["graphs"]
    assert graph["exporter"] == "dynamo" and "froze a dynamic axis" in graph["exporter_note"]
    assert graph["inputs"][0]["ranges"] == {"time": [1, 128]}
    report = json.loads((exports / NAME / "card" / "verification.json").read_text())
    assert report["passed"] and {"random b=1 time=16", "random b=1 time=65"} <= {c["case"] for c in report["checks"]}
    for onnx_file in (exports / NAME).glob("*.onnx"):  # FP32 and its variants: no path of this machine
        assert machine_paths(onnx.load(str(onnx_file))) == [], onnx_file.name
    card = json.loads((cards / f"{NAME}.json").read_text())
    assert card["model_details"]["license"] == "mit"
    assert card["training_data"]["class_names"] == ["sine", "square", "sawtooth", "triangle"]
    assert card["front_matter"]["pipeline_tag"] == "other"
    assert "time-series-classification" in card["front_matter"]["tags"]
    assert "sine (0)" in (cards / f"{NAME}.md").read_text()
