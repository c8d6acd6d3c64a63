"""Config values a model cannot use are bad input: ranges declared with the key's description (``zoo.config.Help``)."""
from __future__ import annotations

import json
import pickle

import pytest

import zoo
from zoo.config import CORE_KEYS, ConfigError, Help, describe, resolve
from zoo.specs import ModelSpec, SpecError

from conftest import invoke_zoo, one_error_line


@pytest.mark.parametrize("model, setting, message", [
    ("cnn-digits", "channels=[]", "config 'channels' must have at least 1 item, each 1 or more (got [])"),
    ("cnn-digits", "channels=16,0", "config 'channels' must have at least 1 item, each 1 or more (got [16, 0])"),
    ("cnn-digits", "dropout=5", "config 'dropout' must be in [0, 1) (got 5.0)"),
    ("cnn-digits", "label_smoothing=1", "config 'label_smoothing' must be in [0, 1) (got 1.0)"),
    ("cnn-digits", "lr=nan", "config 'lr' must be positive (got NaN)"),
    ("cnn-digits", "seed=-1", "config 'seed' must be 0 or more (got -1)"),
    ("lstm-digits", "cell=transformer", 'config \'cell\' must be one of "rnn", "lstm", "gru" (got "transformer")'),
    ("gan-digits", "real_label=0", "config 'real_label' must be in (0, 1] (got 0.0)"),
    ("ae-digits", "sparsity_target=1", "config 'sparsity_target' must be in (0, 1) (got 1.0)"),
    # a list key's default is quoted whole, not its first item
    ("cnn-digits", "channels=16,abc", "config 'channels': 'abc' is not a valid int (default [32, 64])"),
])
def test_values_out_of_the_declared_range_are_one_line_exit_2(tmp_path, model, setting, message):
    result = invoke_zoo("train", model, "--set", setting, "--out", str(tmp_path / "run"))
    assert result.code == 2 and one_error_line(result.err) == f"error: {message}"
    assert not (tmp_path / "run").exists()


def test_zoo_info_shows_each_range_in_words_and_as_data():
    shown = invoke_zoo("info", "cnn-digits")
    rows = {line.split()[0]: line for line in shown.out.split("Default config", 1)[1].splitlines()[2:] if line}
    assert rows["dropout"].endswith("dropout before the dense head (allowed: in [0, 1))")
    assert rows["channels"].endswith("(allowed: at least 1 item, each 1 or more)")
    assert rows["lr"].endswith("learning rate (allowed: positive)")
    described = json.loads(invoke_zoo("info", "cnn-digits", "--json").out)
    assert described["config_ranges"]["dropout"] == {"minimum": 0, "exclusive_maximum": 1}
    assert described["config_ranges"]["channels"] == {"minimum": 1, "min_items": 1}
    assert described["config_ranges"]["epochs"] == {"minimum": 1}


def test_every_built_in_key_that_bounds_a_network_declares_its_range():
    for spec in zoo.list_models():
        ranged = zoo.get_model(spec.name).to_dict()["config_ranges"]
        for key in ("epochs", "batch_size", "lr", "seed"):
            assert key in ranged, (spec.name, key)
        for key in ("dropout", "channels", "hidden_size", "num_layers", "code_size", "noise_dim", "cell"):
            if key in spec.default_config:
                assert key in ranged, (spec.name, key)


def test_help_is_its_description_so_plain_strings_and_old_readers_keep_working():
    helped = Help("dropout before the head", minimum=0, exclusive_maximum=1)
    assert helped == "dropout before the head" and isinstance(helped, str) and json.dumps(helped) == \
        '"dropout before the head"'
    assert pickle.loads(pickle.dumps(helped)).bounds() == helped.bounds()
    assert describe("dropout", {"dropout": "dropout, as a plain string"}) == "dropout, as a plain string"
    # a plugin's plain description of a core key keeps the core's range
    assert describe("lr", {"lr": "learning rate of G"}) == "learning rate of G (allowed: positive)"
    assert resolve({"lr": 0.1, "dropout": 0.5}, {"dropout": "0.9"}, {"dropout": "no range"})["dropout"] == 0.9
    with pytest.raises(ConfigError, match="config 'lr' must be positive"):
        resolve({"lr": 0.1}, {"lr": "0"}, {"lr": "plain text"})
    assert isinstance(CORE_KEYS["label_smoothing"], Help)


def test_a_default_outside_its_own_range_breaks_the_spec_and_one_outside_the_core_range_warns():
    base = {"epochs": 1, "batch_size": 2, "lr": 0.1, "seed": 0}
    with pytest.raises(SpecError, match="its default is out of its declared range: config 'width' must be 1 or more"):
        ModelSpec("x-digits", "x", "classification", "digits", "x", {**base, "width": 0},
                  config_help={"width": Help("units", minimum=1)}).validate()
    warned = ModelSpec("x-digits", "x", "classification", "digits", "x", {**base, "seed": -1}).validate()
    assert warned == ["model 'x-digits': default config 'seed' must be 0 or more (got -1) (deprecated since "
                      "plugin contract 2.1, refused from 3.0)"]


def test_text_keys_take_numbers_and_lists_from_python_as_their_text():
    """`zoo.train(..., overrides={"image_size": 28})` means what `--set image_size=28` means."""
    from zoo.sources.common import ReadOptions

    defaults = {"image_size": "", "resample": "bilinear"}
    assert resolve(defaults, {"image_size": 28})["image_size"] == "28"
    assert resolve(defaults, {"image_size": (24, 32)})["image_size"] == "[24, 32]"
    assert ReadOptions.from_mapping(resolve(defaults, {"image_size": [24, 32]})).image_size == (24, 32)
    with pytest.raises(ConfigError, match="config 'resample': True is not a valid str"):
        resolve(defaults, {"resample": True})
