"""The UCR/UEA archive's problems (plugin ``ucr``): read from sktime's real .ts files by zoo's own reader, the
archive's own split kept, its published 1-NN ED reproduced digit for digit, the card's comparison with the
published results, and a zoo that keeps working without sktime."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import zoo
import zoo.plugins
from conftest import invoke_zoo
from zoo.cards.published import nearest_neighbour_baseline
from zoo.cards.schema import validate_card
from zoo.cards.static import static_card
from zoo.cards.writer import write_card
from zoo.data import load_data
from zoo.registry import get_dataset
from zoo.sources import read_source
from zoo.specs import DATASET_NOTES, SpecError
from zoo_rnn.patched import PatchedSequenceClassifier, windows
from zoo_rnn.models import SequenceClassifier
from zoo_ucr import archive, published
from zoo_ucr.problems import PROBLEMS

EQUAL_LENGTH = [p.name for p in PROBLEMS if not p.variable_length]
UCR_MODELS = ["gru-ucr-gunpoint", "gru-ucr-italypowerdemand", "gru-ucr-arrowhead", "lstm-uea-basicmotions",
              "fcn-ucr-arrowhead", "fcn-uea-japanesevowels"]


def _published(dataset: str, method: str) -> str:
    return next(row["accuracy"] for row in get_dataset(dataset).published if row["method"] == method)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_each_problem_is_what_the_files_hold(problem):
    """The declared shape, classes and sizes against sktime's files, read by zoo's own reader."""
    source = read_source(archive.data_folder() / problem.problem)
    assert source.class_names == problem.class_names  # the archive's labels, natural order
    assert tuple(source.splits["train"].x.shape[1:]) == problem.sample_shape
    assert (len(source.splits["train"]), len(source.splits["test"])) == problem.sizes
    assert (source.splits["train"].lengths is not None) == problem.variable_length


def test_the_archive_split_is_kept_and_validation_drawn_from_its_training_part():
    raw = read_source(archive.data_folder() / "GunPoint").splits
    data = load_data(get_dataset("ucr-gunpoint"), needs_labels=True)
    np.testing.assert_array_equal(data.test.x, raw["test"].x)  # the archive's test split, untouched
    np.testing.assert_array_equal(data.test.y, raw["test"].y)
    assert data.sizes() == {"train": 45, "val": 5, "test": 150}
    together = np.concatenate([data.train.x, data.val.x])
    assert sorted(map(bytes, together)) == sorted(map(bytes, raw["train"].x))  # train + val = the training part
    assert sorted(np.bincount(data.val.y)) == [2, 3]  # stratified: 24/26 in the training part
    assert data.info.class_names == ("1", "2") and data.preprocessing["splits"]["test"] == "given by the data"

    vowels = load_data(get_dataset("uea-japanesevowels"), needs_labels=True)
    assert vowels.info.sample_shape == (29, 12) and (vowels.info.min_length, vowels.info.max_length) == (7, 29)
    assert len(vowels.test) == 370 and vowels.test.lengths is not None


@pytest.mark.parametrize("name", EQUAL_LENGTH)
def test_zoo_reproduces_the_published_one_nn_ed(name):
    """1-NN ED through zoo's own split (train + val = the archive's training part) equals the published figure
    to its last digit."""
    published_text = _published(name, "1-NN ED")
    found = nearest_neighbour_baseline(load_data(get_dataset(name), needs_labels=True))
    digits = len(published_text.partition(".")[2])
    assert round(found["accuracy"], digits) == float(published_text), (name, found["accuracy"], published_text)


def test_one_nn_ed_is_not_defined_for_unequal_lengths():
    found = nearest_neighbour_baseline(load_data(get_dataset("uea-japanesevowels"), needs_labels=True))
    assert found["accuracy"] is None and found["note"].startswith("not defined: the series differ in length (7 to 29")


def test_every_published_row_names_a_source_and_parses():
    table = published.table()
    problems = {p.problem for p in PROBLEMS}
    assert set(table["problems"]) == problems
    for problem, rows in table["problems"].items():
        assert rows and all(row["source"] in table["sources"] for row in rows), problem
        spec = get_dataset(next(p.name for p in PROBLEMS if p.problem == problem))
        assert [r["accuracy"] for r in spec.published] == [r["accuracy"] for r in rows]
    spec = get_dataset("ucr-gunpoint")
    for bad in ({"method": "x", "kind": "deep", "accuracy": "0.9", "source": "s"},
                {"method": "x", "kind": "learned", "accuracy": "91%", "source": "s"},
                {"method": "x", "kind": "learned", "accuracy": "0.9"}):
        with pytest.raises(SpecError):
            zoo.DatasetSpec(**{**spec.__dict__, "published": (bad,)}).validate()


def test_notes_are_complete_and_the_cards_of_the_models_too():
    for problem in PROBLEMS:
        notes = get_dataset(problem.name).notes
        assert set(DATASET_NOTES) | {"citation"} <= set(notes), problem.name
    for name in UCR_MODELS:
        assert static_card(zoo.get_model(name))[1] == [], name
    plugins = {p["name"]: p for p in json.loads(invoke_zoo("plugins", "--json").out)}
    assert plugins["ucr"]["status"] == "ok" and plugins["rnn"]["card"]["complete"] is True
    assert plugins["fcn"]["card"]["complete"] is True


def test_the_windowed_network_is_the_family_network_on_windows():
    torch.manual_seed(0)
    patched = PatchedSequenceClassifier(6, "gru", 2, 3, hidden_size=8, num_layers=1).eval()
    plain = SequenceClassifier("gru", 12, 3, hidden_size=8, num_layers=1).eval()
    plain.load_state_dict(patched.state_dict())  # the same modules and names
    x = torch.rand(4, 15, 2)
    expected = torch.cat([x, torch.zeros(4, 3, 2)], dim=1).reshape(4, 3, 12)  # 15 steps: 3 windows, zero-padded
    assert torch.equal(windows(x, 6), expected)
    assert torch.allclose(patched(x), plain(expected))


def test_card_compares_with_the_published_results(tiny_run, tmp_path):
    """A tiny model misses every goal: the card says so, with the margins, beside the published rows and zoo's 1-NN."""
    run = tiny_run("gru-ucr-gunpoint")
    card, written = write_card(run.path, ["md", "json"], tmp_path / "card.md")
    assert validate_card(card) == []
    found = card["published_results"]
    assert [r["accuracy"] for r in found["published"]] == [r["accuracy"] for r in get_dataset("ucr-gunpoint").published]
    assert found["computed"]["published"] == _published("ucr-gunpoint", "1-NN ED")
    assert found["computed"]["equals_published"] is True
    assert found["computed"]["provenance"].startswith("computed by zoo")
    accuracy = run.metrics()["metrics"]["accuracy"]
    assert found["model"]["accuracy"] == accuracy
    nearest, learned = found["goals"]
    assert nearest["target"] == float(_published("ucr-gunpoint", "1-NN ED"))
    assert learned["reference"]["method"] == "ROCKET" and learned["target"] == pytest.approx(1.0 - 0.03)
    for goal in (nearest, learned):
        assert goal["margin"] == pytest.approx(accuracy - goal["target"], abs=1e-6)
        assert goal["met"] is (goal["margin"] >= 0)
    markdown = next(p for p in written if p.suffix == ".md").read_text()
    section = markdown.split("## Published results on the same split")[1].split("\n## ")[0]
    assert "angus924/rocket" in section and "computed by zoo" in section
    assert f"missed by {-learned['margin']:.4f}" in section


def test_a_run_on_the_users_files_gets_no_comparison(tmp_path):
    """Published numbers hold for the registered dataset's split only: a run on files the user gives (here the same
    problem's folder) is not compared."""
    run = zoo.train("gru-ucr-gunpoint", epochs=1, overrides={"hidden_size": 4}, out=tmp_path / "run",
                    data=archive.data_folder() / "GunPoint")
    card, _ = write_card(run.path, ["json"], tmp_path / "card.json")
    assert validate_card(card) == [] and "published_results" not in card


def test_without_sktime_the_sets_are_left_out_with_one_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime", None)  # what an uninstalled package looks like to find_spec
    zoo.plugins.reset()
    try:
        loaded = zoo.plugins.load_plugins()
        status = next(p.status for p in loaded.plugins if p.name == "ucr")
        assert status.startswith("broken: zoo_datasets() failed: ") and "sktime is not installed" in status
        assert "\n" not in status and not any(name.startswith(("ucr-", "uea-")) for name in loaded.datasets)
        result = invoke_zoo("list", env={"ZOO_DISABLE_PLUGINS": ""})  # a fresh plugin set, sktime still absent
        assert result.code == 0 and "cnn-digits" in result.out
        said = [line for line in result.err.splitlines() if "sktime" in line]
        assert len(said) == 1 and f"plugin 'ucr' is {status}" in said[0] and archive.INSTALL in said[0]
    finally:
        zoo.plugins.reset()


def test_zoo_list_shows_the_archives_sets_and_filters_models_by_dataset():
    listed = invoke_zoo("list", "--datasets", "u*", "--json")
    assert listed.code == 0, listed.err
    sets = {d["name"]: d for d in json.loads(listed.out)}
    assert {"ucr-gunpoint", "ucr-italypowerdemand", "ucr-arrowhead", "uea-basicmotions",
            "uea-japanesevowels"} <= set(sets) and all(d["plugin"] == "ucr" for d in sets.values())
    assert sets["ucr-arrowhead"]["models"] == ["fcn-ucr-arrowhead", "gru-ucr-arrowhead"]
    assert sets["uea-japanesevowels"]["sample_shape"] == [29, 12]
    models = invoke_zoo("list", "--dataset", "ucr-*", "--json")
    assert models.code == 0, models.err
    names = [m["name"] for m in json.loads(models.out)]
    assert "gru-ucr-gunpoint" in names and all(m["dataset"].startswith("ucr-") for m in json.loads(models.out))
    table = invoke_zoo("list", "--datasets")
    assert table.out.splitlines()[0].split() == ["DATASET", "PLUGIN", "LAYOUT", "SHAPE", "CLASSES", "MODELS", "SUMMARY"]
    assert invoke_zoo("list", "--datasets", "nothing-*").err.strip() == "no datasets match"
