"""`zoo publish` end to end: train, export, verify, card into the bundle and cards/; a failed verification."""
from __future__ import annotations

import json
import re

from conftest import run_zoo
from test_cards import HUB_TASK_IDS, LINK, absolute_paths, broken_links, front_matter
from zoo.cards.make import linked_files


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


def test_publish_end_to_end_and_a_failed_verification_exits_1_with_the_other_model_published(tmp_path, plugin_site):
    """One publish, two models in two worker processes (--jobs 2): cnn-tiny-digits goes all the way (train,
    export, verify, card into the bundle and cards/, index, catalog, README table); branchy-digits fails
    verification for real, its bundle and its 'not verified' card are still written, and the command exits 1
    naming it. Every model trained on one thread. (One publish for both: each costs seconds on every CI run.)"""
    plugin_site.add("zoo-branchy", "zoo_branchy", BRANCHY_PLUGIN)
    name = "cnn-tiny-digits"
    cards, runs, exports = tmp_path / "cards", tmp_path / "runs", tmp_path / "exports"
    (exports / "stray").mkdir(parents=True)  # not a bundle: left out of the index, and said so
    (exports / "stray" / "manifest.json").write_text("{}")
    (tmp_path / "README.md").write_text("# my zoo\n\n<!-- catalog:start -->\nold table\n<!-- catalog:end -->\n")
    result = run_zoo("publish", "branchy-digits", name, "--epochs", "1", "--jobs", "2", "--variants", "fp32",
                     "--out", "cards", "--runs", str(runs), "--exports", str(exports), cwd=tmp_path,
                     env=plugin_site.env)
    assert result.code == 1, result.err
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 models failed: branchy-digits (") and "Traceback" not in result.err, \
        result.err
    for model in ("branchy-digits", name):
        assert [line.split(": ")[1] for line in result.err.splitlines() if line.startswith(f"{model}: ")] == [
            "train", "export", "verify", "card"], result.err
        assert json.loads((runs / model / "config.json").read_text())["hardware"]["torch_threads"] == 1
    failed = json.loads((cards / "branchy-digits.json").read_text())
    assert failed["parity"]["status"] == "not verified", failed["parity"]
    report = json.loads((exports / "branchy-digits" / "card" / "verification.json").read_text())
    statuses = {c["case"]: c["status"] for c in report["checks"]}
    assert statuses["test vectors"] == "pass" and "fail" in statuses.values()

    readme = (tmp_path / "README.md").read_text()  # publish in a source tree rewrites the README's table too
    assert "old table" not in readme and f"[{name}](cards/{name}.md)" in readme
    assert "readme: catalog table rewritten from cards" in result.err
    header, *rows = result.out.strip().splitlines()
    assert header.split() == ["MODEL", "KEY", "METRIC", "PARITY", "SECONDS", "CARD"]
    assert any(re.match(rf"{name} +accuracy=[0-9.]+ +verified +[0-9.]+ +\S+{name}\.md$", row) for row in rows), rows

    card = json.loads((cards / f"{name}.json").read_text())
    metrics = json.loads((runs / name / "metrics.json").read_text())
    assert card["metrics"]["values"] == metrics["metrics"]
    assert card["parity"]["status"] == "verified" and card["parity"]["providers"]["cpu"]["result"] == "pass"
    assert card["bundle"]["status"] == "exported" and card["bundle"]["onnx_bytes"] > 0
    markdown = (cards / f"{name}.md").read_text()
    bundle_card = exports / name / "card"
    assert markdown == (bundle_card / "card.md").read_text()
    assert (cards / f"{name}.html").stat().st_size > 10_000 and (bundle_card / "verification.json").is_file()
    assert not (bundle_card / "card.html").exists(), "the bundle ships Markdown and JSON; the page is in cards/"
    from zoo.cards.bom import validate_bom

    validate_bom((bundle_card / "card.cdx.json").read_text())  # the card as a CycloneDX ML-BOM, in every bundle
    assert not (cards / f"{name}.cdx.json").exists(), "cards/ holds cards only (the catalog reads *.json)"
    for figure in card["figures"]:
        assert (cards / figure["file"]).is_file() and (bundle_card / figure["file"]).is_file()
        assert f"]({figure['file']})" in markdown

    # Portable: the card names the run by its id and links its own copy of the verification report.
    assert card["metrics"]["provenance"]["run"] == name
    report = card["parity"]["provenance"]["report"]
    assert report == f"figures/{name}/verification.json" and f"]({report})" in markdown
    copied = json.loads((cards / report).read_text())
    assert copied["passed"] is True and copied["bundle"] == name
    assert sorted(LINK.findall(markdown)) == sorted(linked_files(card))
    assert broken_links(cards / f"{name}.md") == [] and broken_links(bundle_card / "card.md") == []
    assert broken_links(cards / f"{name}.html") == []

    # The zoo's index and catalog: every fact from the bundle and its card.
    index = json.loads((exports / "index.json").read_text())
    entry = next(m for m in index["models"] if m["name"] == name)
    assert sorted(m["bundle"] for m in index["models"]) == ["branchy-digits", name]
    assert f"index: warning: stray: left out of the index: {exports / 'stray' / 'manifest.json'}: not a" in result.err
    assert entry["metric"]["value"] == card["metrics"]["values"]["accuracy"]
    manifest = json.loads((exports / name / "manifest.json").read_text())
    assert manifest["run"]["path"] == f"../../runs/{name}", "a shipped bundle names its run relative to itself"
    assert entry["card"]["md"] == "card/card.md" and entry["weights"]["sha256"] == manifest["run"]["weights_sha256"]
    catalog = (cards / "index.html").read_text()
    assert f'href="{name}.html"' in catalog
    assert absolute_paths(cards, tmp_path, runs, exports) == []
    assert absolute_paths(exports, tmp_path, runs, cards) == [], "a shipped bundle names no path of this machine"
    assert front_matter(markdown)["pipeline_tag"] in HUB_TASK_IDS
