"""Built-in family: the fully convolutional network for time-series classification (FCN; Wang, Yan and
Oates 2017), the standard deep baseline of the UCR/UEA archive, sized from the data it is given.

Its models of the UCR/UEA archive's problems are in ``ucr``.

Imports from zoo: the plugin API only (``zoo``, ``zoo.data``, ``zoo.graphs``; ``zoo.recipes`` in ``models``).
"""
from __future__ import annotations

from zoo import ModelSpec, hookimpl
from zoo.specs import Help
from zoo_fcn import ucr  # the models of the UCR/UEA archive's problems (datasets of the ucr plugin)

FAMILY = "fcn"
LICENSE = "mit"  # the model (weights and code) is released under zoo's MIT licence; the data keeps its own

# The paper's network is 128-256-128 filters (about 270k parameters on 8 features); on the 8x8 digits read
# row by row a quarter of its width (19k parameters) meets the goal, test accuracy >= 0.97, on every seed
# tried (0.983-0.994 on seeds 0-4, one thread; benchmarks/quality.py), and 60 epochs do as well as 100.
DEFAULTS = {"epochs": 60, "batch_size": 64, "lr": 0.003, "weight_decay": 0.01, "seed": 0,
            "channels": [32, 64, 32], "kernels": [8, 5, 3], "dropout": 0.2, "label_smoothing": 0.1, "shift": 1}
HELP = {
    "channels": Help("filters of each conv block (the paper: 128, 256, 128); one block per entry", minimum=1,
                     min_items=1),
    "kernels": Help("kernel size of each conv block, as many as channels (the paper: 8, 5, 3); 'same' padding",
                    minimum=1, min_items=1),
    "dropout": Help("dropout before the linear head (0 in the paper)", minimum=0, exclusive_maximum=1),
}
ACCEPTS = "sequences of any length and number of features (.ts, .csv, .npz), unequal lengths too"


@hookimpl
def zoo_models():
    return [ModelSpec(name="fcn-digits-rows", family=FAMILY, task="classification", dataset="digits-rows",
                      summary="FCN (Wang et al. 2017): three conv-BN-ReLU blocks over time, global average pooling",
                      default_config=DEFAULTS, config_help=HELP, head="head", accepts=ACCEPTS),
            *ucr.models(FAMILY, HELP, ACCEPTS)]


@hookimpl
def zoo_build(spec, config, info):
    from zoo.data import DataError
    from zoo_fcn.models import FCN

    if info.layout != "sequence" or len(info.sample_shape) != 2:
        raise DataError(f"{spec.name} reads sequences (N, T, F); got {info.layout} samples shaped "
                        f"{tuple(info.sample_shape)}")
    if info.variable_length and config.get("dp_epsilon") is not None:
        raise DataError(f"{spec.name} cannot train privately on sequences of different lengths: Opacus replaces its "
                        f"batch norm by group norm, whose per-sample statistics would include the padding; pad the "
                        f"sequences to one length, or train without --dp-epsilon")
    channels, kernels = list(config["channels"]), list(config["kernels"])
    if not channels or len(channels) != len(kernels):
        raise DataError(f"{spec.name}: channels and kernels must name the same number of conv blocks "
                        f"(got channels={channels}, kernels={kernels})")
    return FCN(info.sample_shape[1], info.num_classes, channels=channels, kernels=kernels, dropout=config["dropout"])


@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    """One graph with dynamic batch and time axes; for sequences of different lengths it also takes
    ``lengths`` (int64, one per sequence; padding after each end)."""
    from zoo.graphs import OnnxGraph, sequence_inputs

    return [OnnxGraph(name="model", module=model, outputs=["output"],
                      inputs=sequence_inputs(info.sample_shape, info.variable_length),
                      **(ucr.graph_options(spec) if ucr.owns(spec) else {}))]


@hookimpl
def zoo_model_card(spec):
    """The hand-written part of the card; zoo measures and adds every number."""
    if ucr.owns(spec):
        return ucr.model_card(spec, LICENSE)
    return {
        "license": LICENSE,
        "description": (
            "The fully convolutional network of Wang, Yan and Oates (2017, 'Time Series Classification from "
            "Scratch with Deep Neural Networks: A Strong Baseline'): convolution blocks over time (channels and "
            "kernel sizes from the config, 'same' padding, batch norm, ReLU), global average pooling over time "
            "and a linear layer to one logit per class. The input's features are the convolution's channels. "
            "Sequences of different lengths are read with their lengths: padding is zeroed after every block "
            "and left out of the pooling, so a sequence's answer does not depend on what it is batched with. "
            "Trained with AdamW, cosine learning-rate decay and cross-entropy (the core's classifier recipe)."),
        "intended_use": (
            "Teaching and testing: the standard deep baseline of time-series classification, to compare with the "
            "recurrent models on the same fixed split, and an example of a one-dimensional convolutional "
            "network exported to ONNX with a dynamic time axis."),
        "out_of_scope_use": (
            "Any decision about a person, and any input unlike the training data: on the digits, anything but "
            "the pixel rows of one handwritten digit in [0, 1], read top to bottom. The graph accepts other "
            "lengths, but the model was trained only on the lengths of its data: others are unvalidated."),
        "factors": (
            "Results are disaggregated by class. Who or what produced each sequence (the writer of a digit) is "
            "not recorded, so performance per source cannot be measured."),
        "data_notes": {
            "preprocessing": ("The network takes the dataset's sequences as they are (time steps by features); "
                              "augmentation during training, if any, is the core's (`shift`, along time within "
                              "each sequence's length) and is stated below from the run's config."),
        },
        "explainability": (
            "Attributions are shown on the grid of time steps by features: they say which steps and features "
            "moved the logits, not which learned filters responded. Global average pooling makes the "
            "network's evidence a sum over time, so a pattern anywhere in the sequence counts alike. Read the "
            "maps together with their measured faithfulness and sanity check above."),
        "safety": {
            "risks": ("Wrong answers with high scores, and a class for every input, also for inputs unlike the "
                      "data (see the measured calibration and out-of-distribution detection above). Test "
                      "accuracy on a small split overstates accuracy on new data."),
            "misuse": ("Quoting the test score as evidence that the model works on other data, or using it for "
                       "decisions without an evaluation on data from where it would be used."),
        },
        "limitations": (
            "A small dataset; the model applies no temperature and has no rejection option. Its receptive field "
            "is set by its kernel sizes (`kernels`): patterns longer than that are seen only through the pooled "
            "average. On the digits read row by row it is a study of one-dimensional convolutions: the "
            "two-dimensional CNN is the natural model for images."),
    }
