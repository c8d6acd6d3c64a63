"""`zoo publish` end to end on one tiny model: train, export, verify, card into the bundle and cards/."""
from __future__ import annotations

import json
import re

from conftest import run_zoo
from test_cards import HUB_TASK_IDS, LINK, absolute_paths, broken_links, front_matter
from zoo.cards.make import linked_files


def test_publish_one_model_end_to_end(tmp_path):
    cards, runs, exports = tmp_path / "cards", tmp_path / "runs", tmp_path / "exports"
    (exports / "stray").mkdir(parents=True)  # not a bundle: left out of the index, and said so
    (exports / "stray" / "manifest.json").write_text("{}")
    (tmp_path / "README.md").write_text("# my zoo\n\n<!-- catalog:start -->\nold table\n<!-- catalog:end -->\n")
    result = run_zoo("publish", "cnn-digits", "--epochs", "1", "--set", "channels=8,16", "--set", "hidden=32",
                     "--out", "cards", "--runs", str(runs), "--exports", str(exports), cwd=tmp_path)
    assert result.code == 0, result.err
    readme = (tmp_path / "README.md").read_text()  # publish in a source tree rewrites the README's table too
    assert "old table" not in readme and "[cnn-digits](cards/cnn-digits.md)" in readme
    assert [line.split(": ")[1] for line in result.err.splitlines() if line.startswith("cnn-digits: ")] == [
        "train", "export", "verify", "card"]
    assert "readme: catalog table rewritten from cards" in result.err
    header, row = result.out.strip().splitlines()
    assert header.split() == ["MODEL", "KEY", "METRIC", "PARITY", "SECONDS", "CARD"]
    assert re.match(r"cnn-digits +accuracy=[0-9.]+ +verified +[0-9.]+ +\S+cnn-digits\.md$", row)

    card = json.loads((cards / "cnn-digits.json").read_text())
    metrics = json.loads((runs / "cnn-digits" / "metrics.json").read_text())
    assert card["metrics"]["values"] == metrics["metrics"]
    assert card["parity"]["status"] == "verified" and card["parity"]["providers"]["cpu"]["result"] == "pass"
    assert card["bundle"]["status"] == "exported" and card["bundle"]["onnx_bytes"] > 0
    markdown = (cards / "cnn-digits.md").read_text()
    bundle_card = exports / "cnn-digits" / "card"
    assert markdown == (bundle_card / "card.md").read_text()
    assert (cards / "cnn-digits.html").stat().st_size > 10_000 and (bundle_card / "verification.json").is_file()
    assert not (bundle_card / "card.html").exists(), "the bundle ships Markdown and JSON; the page is in cards/"
    from zoo.cards.bom import validate_bom

    validate_bom((bundle_card / "card.cdx.json").read_text())  # the card as a CycloneDX ML-BOM, in every bundle
    assert not (cards / "cnn-digits.cdx.json").exists(), "cards/ holds cards only (the catalog reads *.json)"
    for figure in card["figures"]:
        assert (cards / figure["file"]).is_file() and (bundle_card / figure["file"]).is_file()
        assert f"]({figure['file']})" in markdown

    # Portable: the card names the run by its id and links its own copy of the verification report.
    assert card["metrics"]["provenance"]["run"] == "cnn-digits"
    report = card["parity"]["provenance"]["report"]
    assert report == "figures/cnn-digits/verification.json" and f"]({report})" in markdown
    copied = json.loads((cards / report).read_text())
    assert copied["passed"] is True and copied["bundle"] == "cnn-digits"
    assert sorted(LINK.findall(markdown)) == sorted(linked_files(card))
    assert broken_links(cards / "cnn-digits.md") == [] and broken_links(bundle_card / "card.md") == []
    assert broken_links(cards / "cnn-digits.html") == []

    # The zoo's index and catalog: every fact from the bundle and its card.
    index = json.loads((exports / "index.json").read_text())
    entry = next(m for m in index["models"] if m["name"] == "cnn-digits")
    assert [m["bundle"] for m in index["models"]] == ["cnn-digits"]
    assert f"index: warning: stray: left out of the index: {exports / 'stray' / 'manifest.json'}: not a" in result.err
    assert entry["metric"]["value"] == card["metrics"]["values"]["accuracy"]
    manifest = json.loads((exports / "cnn-digits" / "manifest.json").read_text())
    assert manifest["run"]["path"] == "../../runs/cnn-digits", "a shipped bundle names its run relative to itself"
    assert entry["card"]["md"] == "card/card.md" and entry["weights"]["sha256"] == manifest["run"]["weights_sha256"]
    catalog = (cards / "index.html").read_text()
    assert 'href="cnn-digits.html"' in catalog
    assert absolute_paths(cards, tmp_path, runs, exports) == []
    assert absolute_paths(exports, tmp_path, runs, cards) == [], "a shipped bundle names no path of this machine"
    assert front_matter(markdown)["pipeline_tag"] in HUB_TASK_IDS


def test_publish_unknown_model_is_one_line_exit_2(tmp_path):
    result = run_zoo("publish", "cnn-digitz", "--out", str(tmp_path))
    assert result.code == 2 and result.err.strip() == "error: unknown model 'cnn-digitz' (did you mean 'cnn-digits'?)"


# A family whose graph TorchScript traces wrongly for most inputs: its branch is taken on the value of the input,
# and the trace of the all-zero example keeps the branch zeros take. Test vectors (zeros) pass; ONNX Runtime on
# random inputs disagrees with PyTorch, so verification really fails.
BRANCHY_PLUGIN = '''
import torch
from torch import nn
from zoo import ModelSpec, hookimpl
from zoo.graphs import GraphInput, OnnxGraph


class Branchy(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        y = self.net(x)
        if bool(x.sum() > 0):  # traced once, on zeros
            y = y * 2
        return y


@hookimpl
def zoo_models():
    return [ModelSpec(name="branchy-digits", family="branchy", task="classification", dataset="digits",
                      summary="a linear classifier behind a data-dependent branch",
                      default_config={"epochs": 1, "batch_size": 64, "lr": 0.1, "seed": 0})]


@hookimpl
def zoo_build(spec, config, info):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, info.num_classes))


@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    return [OnnxGraph("model", Branchy(model), [GraphInput("input", torch.zeros(2, *info.sample_shape))],
                      ["output"], role="primary")]


@hookimpl
def zoo_model_card(spec):
    return {"license": "mit", "description": "A linear classifier whose graph doubles its logits on some inputs.",
            "intended_use": "Testing that zoo publish reports a failed verification.",
            "out_of_scope_use": "Everything else.", "data_notes": {"preprocessing": "Flattened pixels."},
            "explainability": "None beyond the core's.",
            "safety": {"risks": "Its exported graph is wrong.", "misuse": "Deploying it."},
            "limitations": "Its ONNX graph disagrees with PyTorch on most inputs."}
'''


def test_a_failed_verification_makes_publish_exit_1_and_the_other_models_are_still_published(tmp_path,
                                                                                            plugin_site):
    """Two models in two worker processes (--jobs 2): the first fails verification for real; its bundle and its
    'not verified' card are still written, the second is published and verified, and the command exits 1
    naming the failure. Every model trained on one thread."""
    plugin_site.add("zoo-branchy", "zoo_branchy", BRANCHY_PLUGIN)
    cards, exports = tmp_path / "cards", tmp_path / "exports"
    result = run_zoo("publish", "branchy-digits", "cnn-tiny-digits", "--epochs", "1", "--jobs", "2",
                     "--variants", "fp32", "--out", str(cards), "--runs", str(tmp_path / "runs"),
                     "--exports", str(exports), env=plugin_site.env)
    assert result.code == 1, result.err
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 models failed: branchy-digits (") and "Traceback" not in result.err, \
        result.err
    for name in ("branchy-digits", "cnn-tiny-digits"):
        assert [line.split(": ")[1] for line in result.err.splitlines() if line.startswith(f"{name}: ")] == [
            "train", "export", "verify", "card"], result.err
        record = json.loads((tmp_path / "runs" / name / "config.json").read_text())
        assert record["hardware"]["torch_threads"] == 1
    failed, passed = (json.loads((cards / f"{n}.json").read_text()) for n in ("branchy-digits", "cnn-tiny-digits"))
    assert failed["parity"]["status"] == "not verified", failed["parity"]
    assert passed["parity"]["status"] == "verified", passed["parity"]
    report = json.loads((exports / "branchy-digits" / "card" / "verification.json").read_text())
    statuses = {c["case"]: c["status"] for c in report["checks"]}
    assert statuses["test vectors"] == "pass" and "fail" in statuses.values()
    index = json.loads((exports / "index.json").read_text())
    assert sorted(m["name"] for m in index["models"]) == ["branchy-digits", "cnn-tiny-digits"]
