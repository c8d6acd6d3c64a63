"""Fine-tuning (`zoo train --init`): a new run starts from a published model, a run or a bundle; the family's
head is made afresh where the number of classes differs and everything else loads as it was; --freeze trains
the head alone; the run records the base model and its weights' SHA-256."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, invoke_zoo, one_error_line

import zoo
from zoo.fsutil import sha256_file
from zoo.runs import CONFIG, WEIGHTS, open_run


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    """Digits 0, 1 and 7 as an .npz of 8x8 images: another number of classes than cnn-digits' ten."""
    from zoo.models import load_model_data
    from zoo.registry import get_model

    data = load_model_data(get_model("cnn-digits"))
    x = np.concatenate([data.train.x, data.val.x, data.test.x])
    y = np.concatenate([data.train.y, data.val.y, data.test.y])
    keep = np.isin(y, [0, 1, 7])
    path = tmp_path_factory.mktemp("data") / "three.npz"
    np.savez(path, x=x[keep], y=np.searchsorted([0, 1, 7], y[keep]))
    return path


def test_init_from_a_run_replaces_only_the_head_and_records_the_base(tiny_run, three_classes, tmp_path):
    base = tiny_run("cnn-digits")
    run = zoo.train("cnn-digits", overrides=TINY["cnn-digits"], epochs=1, data=three_classes, init=base.path,
                    out=tmp_path / "tuned")
    init = json.loads((run.path / CONFIG).read_text())["init"]
    assert init["kind"] == "run" and init["source"] == base.path.name and init["model"] == "cnn-digits"
    assert init["weights_sha256"] == sha256_file(base.path / WEIGHTS)
    assert init["head"] == "classifier" and init["replaced"] == ["classifier.5.weight", "classifier.5.bias"]
    assert init["freeze"] is False and init["frozen_parameters"] == 0
    from zoo.cards.make import make_card
    from zoo.cards.render import to_markdown

    card = make_card(run.path, tmp_path / "card")
    text = to_markdown(card)
    assert "base_model: cnn-digits" in text.split("---")[1]  # Hugging Face's metadata
    assert card["fine_tuning"]["weights_sha256"] == init["weights_sha256"] and "## Fine-tuning" in text
    assert f"the run `{base.path.name}`" in text and "`classifier`" in text and str(tmp_path) not in text


def test_freeze_trains_the_head_alone(tiny_run, three_classes, tmp_path):
    from safetensors.torch import load_file

    base = tiny_run("cnn-digits")
    result = invoke_zoo("train", "cnn-digits", "--data", str(three_classes), "--init", str(base.path), "--freeze",
                        "--epochs", "2", "--out", str(tmp_path / "frozen"),
                        *[arg for k, v in TINY["cnn-digits"].items() if k != "epochs" for arg in ("--set", f"{k}={v}")])
    assert result.code == 0, result.err
    assert f"fine-tuned from cnn-digits (run {base.path.name}, weights sha256 " in result.out
    assert "; head replaced, the rest frozen" in result.out
    run = open_run(tmp_path / "frozen")
    before, after = load_file(base.path / WEIGHTS), load_file(run.path / WEIGHTS)
    body = [k for k in after if not k.startswith("classifier.") and "running" not in k and "num_batches" not in k]
    assert body and all(torch.equal(before[k], after[k]) for k in body)  # convolutions exactly as they were
    assert not torch.equal(before["classifier.2.weight"], after["classifier.2.weight"])  # the head trained
    assert json.loads((run.path / CONFIG).read_text())["init"]["frozen_parameters"] > 0


@pytest.mark.parametrize("args, message", [
    (["--init", "no-such-model"], "unknown model 'no-such-model'"),
    (["--freeze"], "--freeze trains the head of a model that starts from trained weights: give --init too"),
])
def test_bad_init_is_one_line_and_writes_nothing(tmp_path, three_classes, args, message):
    result = invoke_zoo("train", "cnn-digits", "--data", str(three_classes), "--out", str(tmp_path / "r"), *args)
    assert result.code == 2 and message in one_error_line(result.err)
    assert not (tmp_path / "r").exists()


def test_weights_of_another_network_are_refused_naming_the_layer(tiny_run, three_classes, tmp_path):
    result = invoke_zoo("train", "cnn-tiny-digits", "--data", str(three_classes), "--init",
                        str(tiny_run("cnn-digits").path), "--out", str(tmp_path / "r"))
    assert result.code == 2
    assert "is shaped" in one_error_line(result.err) and "only the head (classifier) may differ" in result.err


def test_init_from_the_published_name_and_from_its_bundle_onto_an_image_folder(tmp_path):
    """What a researcher types: the published cnn-digits (by name, and its bundle's folder) fine-tuned onto a
    folder of PNGs with three classes; the head is made afresh, and the run names the published weights."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label, name in ((0, "zero"), (1, "one"), (7, "seven")):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:12]):
            Image.fromarray((255 - image * 255 / 16).astype(np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    published = ROOT / "exports" / "cnn-digits"
    for source, kind in (("cnn-digits", "published"), (str(published), "bundle")):
        out = tmp_path / f"from-{kind}"
        result = invoke_zoo("train", "cnn-digits", "--data", str(tmp_path / "photos"), "--init", source,
                            "--epochs", "1", "--set", "image_size=8", "--set", "image_mode=grey", "--out", str(out))
        assert result.code == 0, result.err
        init = json.loads((out / CONFIG).read_text())["init"]
        assert init["kind"] == kind and init["model"] == "cnn-digits" and init["head"] == "classifier"
        assert init["weights_sha256"] == sha256_file(published / "weights.safetensors")
        assert f"fine-tuned from cnn-digits ({kind} " in result.out
        record = json.loads((out / CONFIG).read_text())["data"]
        assert record["class_names"] == ["one", "seven", "zero"] and record["num_classes"] == 3
