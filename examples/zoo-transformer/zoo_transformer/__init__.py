"""A third-party zoo plugin: Transformer-encoder sequence classifiers (family ``transformer``).

Written from zoo's README ("Writing a plugin") and ``zoo/hookspecs.py`` alone, importing only the
plugin API (``zoo.PLUGIN_API``). Two models:

* ``transformer-digits``: 8x8 digits read row by row (the built-in ``digits-rows``: 8 steps of 8
  pixels), with a learned positional table;
* ``transformer-waves``: the plugin's own ``waves`` dataset (``zoo_transformer.waves``: noisy sine,
  square, sawtooth and triangle waves of 32 steps, generated deterministically), with the fixed
  sinusoidal positional code.

Being classifiers, they need no ``zoo_train`` or ``zoo_evaluate``: the core's classifier recipe
trains and evaluates them. Torch is imported inside the hooks only, so ``zoo list`` stays fast.
"""
from __future__ import annotations

from zoo import DatasetSpec, ModelSpec, hookimpl
from zoo.hookspecs import require_contract

require_contract("2.2")  # class names, graph ranges, the model's head: on an older zoo, one clear line

FAMILY = "transformer"
LICENSE = "mit"  # the models' licence (this plugin's); the data's licences are the datasets'

_COMMON = {"epochs": 60, "batch_size": 64, "lr": 0.002, "weight_decay": 0.01, "seed": 0, "d_model": 64,
           "nhead": 4, "num_layers": 2, "dim_feedforward": 128, "dropout": 0.1, "grad_clip": 1.0,
           "label_smoothing": 0.05}
HELP = {
    "d_model": "width of each step's embedding and of the encoder",
    "nhead": "attention heads per encoder layer (divides d_model)",
    "num_layers": "stacked Transformer encoder layers",
    "dim_feedforward": "hidden units of each layer's feed-forward block",
    "dropout": "dropout inside the encoder layers and before the head",
    "positional": "positional code added to each step: learned (a trained table) or sinusoidal (fixed)",
    "max_len": "the longest sequence the positional table covers, in steps",
}
MODELS = {
    "transformer-digits": ("digits-rows", "Transformer encoder reading 8x8 digits row by row, mean-pooled over time",
                           {"positional": "learned", "max_len": 64, "shift": 1}),
    "transformer-waves": ("waves", "Transformer encoder telling sine, square, sawtooth and triangle waves apart",
                          {"positional": "sinusoidal", "max_len": 128, "shift": 0}),
}


@hookimpl
def zoo_models():
    return [ModelSpec(name=name, family=FAMILY, task="classification", dataset=dataset, summary=summary,
                      default_config={**_COMMON, **extra}, config_help=HELP, head="head")
            for name, (dataset, summary, extra) in MODELS.items()]


@hookimpl
def zoo_datasets():
    from zoo_transformer import waves

    return [DatasetSpec(name="waves", layout="sequence", sample_shape=(waves.STEPS, 1),
                     num_classes=len(waves.CLASS_NAMES), class_names=waves.CLASS_NAMES,
                     summary=f"Noisy periodic signals of {waves.STEPS} steps: {', '.join(waves.CLASS_NAMES)}",
                     source=waves.SOURCE, license=waves.LICENSE, load=waves.load, notes=waves.NOTES)]


@hookimpl
def zoo_build(spec, config, info):
    from zoo.data import DataError
    from zoo_transformer.models import TransformerClassifier

    if info.layout != "sequence" or len(info.sample_shape) != 2:
        raise DataError(f"{spec.name} reads sequences (N, T, F); got samples shaped {info.sample_shape}")
    return TransformerClassifier(info.sample_shape[1], info.num_classes, d_model=config["d_model"],
                                 nhead=config["nhead"], num_layers=config["num_layers"],
                                 dim_feedforward=config["dim_feedforward"], dropout=config["dropout"],
                                 positional=config["positional"], max_len=config["max_len"])


@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    """One graph with dynamic batch and time axes; time runs from 1 to ``max_len`` steps (the positional table)."""
    import torch

    from zoo.graphs import GraphInput, OnnxGraph

    example = torch.rand(2, *info.sample_shape, generator=torch.Generator().manual_seed(0))
    sequence = GraphInput(name="input", example=example, dynamic_axes={0: "batch", 1: "time"},
                          ranges={1: (1, config["max_len"])})
    return [OnnxGraph(name="model", module=model.eval(), outputs=["output"], inputs=[sequence])]


_DATA_TEXT = {
    "digits-rows": ("a digit image read as a sequence of its 8 rows (time steps) of 8 pixels (features)",
                    "Reading digits in real documents, any decision about a person, and any input that is not a "
                    "sequence of 8-pixel rows of one handwritten digit in [0, 1]."),
    "waves": ("a one-feature signal of 32 steps (a noisy sine, square, sawtooth or triangle wave)",
              "Classifying real sensor, audio or medical signals, or any decision about a person: the model "
              "has only seen four clean synthetic shapes with white noise."),
}


@hookimpl
def zoo_model_card(spec):
    """The hand-written part of the card; zoo measures and adds every number."""
    reads, out_of_scope = _DATA_TEXT[spec.dataset]
    positional = spec.default_config["positional"]
    return {
        "license": LICENSE,
        "description": (
            f"A Transformer-encoder classifier over {reads}: each step is projected to `d_model` features, "
            f"a {positional} positional code is added, `num_layers` encoder layers (multi-head self-attention "
            "and a feed-forward block, post-norm) mix the steps, the outputs are averaged over time and a "
            "linear head maps the mean to one logit per class. Trained with the core's classifier recipe "
            "(AdamW, cosine decay, cross-entropy with label smoothing)."),
        "intended_use": ("Teaching and testing: attention on short sequences, next to zoo's recurrent family, "
                         "and ONNX export of attention with a dynamic time axis."),
        "out_of_scope_use": out_of_scope + (" Sequences longer than `max_len` steps are refused; lengths other "
                                            "than the training one are unvalidated."),
        "data_notes": {
            "preprocessing": ("The network takes the dataset's sequences as they are; augmentation during "
                              "training, if any, is the core's (`shift`) and is stated from the run's config."),
        },
        "explainability": ("Attributions are shown on the grid of time steps by features: they say which steps "
                           "move the prediction, not which attention heads carry them."),
        "safety": {
            "risks": ("Wrong answers with high scores, and a class for every input, also for inputs unlike "
                      "the training data (see the measured calibration and out-of-distribution detection)."),
            "misuse": "Quoting the test score as evidence that the model works on real data of another kind.",
        },
        "limitations": ("A small model on a small, clean dataset; no rejection option; attention over a few "
                        "steps gains little over the recurrent family here and costs more per step."),
    }
