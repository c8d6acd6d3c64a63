"""An example third-party zoo plugin: a multilayer perceptron family for image classification.

It uses only zoo's public API: the hooks and ``ModelSpec``. Being a classifier, it needs no
``zoo_train`` or ``zoo_evaluate`` of its own: the core's defaults for classifiers apply.
Torch is imported inside the hooks, so ``zoo list`` stays fast with this plugin installed.
"""
from __future__ import annotations

from zoo import ModelSpec, hookimpl

FAMILY = "mlp"


LICENSE = "mit"  # the model (weights and code) is released under zoo's MIT licence; the data keeps its own


@hookimpl
def zoo_models():
    return [ModelSpec(name="mlp-digits", family=FAMILY, task="classification", dataset="digits",
                      summary="Two-layer perceptron on flattened 8x8 digits (example plugin)",
                      default_config={"epochs": 20, "batch_size": 64, "lr": 0.003, "seed": 0, "hidden": 128},
                      config_help={"hidden": "units of the hidden ReLU layer"})]


@hookimpl
def zoo_build(spec, config, info):
    from math import prod

    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(prod(info.sample_shape), config["hidden"]), nn.ReLU(),
                         nn.Linear(config["hidden"], info.num_classes))


@hookimpl
def zoo_model_card(spec):
    return {
        "license": LICENSE,
        "description": "A two-layer perceptron: flatten, one hidden ReLU layer of `hidden` units, linear logits.",
        "intended_use": "Showing how to write a zoo plugin; a baseline for the digits task.",
        "out_of_scope_use": "Any decision about people; images unlike 8x8 centred digits.",
        # Source, license, collection, gaps and biases come from the dataset's own notes;
        # a family adds only what it does to the data.
        "data_notes": {"preprocessing": "Each image is flattened to one vector of its pixels."},
        "explainability": "Attributions say which pixels moved the logits; a dense layer sees no neighbourhood.",
        "safety": {
            "risks": "Wrong answers with high scores on inputs unlike 8x8 centred digits.",
            "misuse": "Reading digits from people's documents, or quoting its test score as real-world accuracy.",
        },
        "limitations": "Ignores the spatial structure of images; expect lower accuracy than the CNN.",
    }
