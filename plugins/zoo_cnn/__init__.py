"""Built-in family: convolutional image classifiers."""
from __future__ import annotations

from zoo import ModelSpec, hookimpl
from zoo.specs import Help

FAMILY = "cnn"

DEFAULTS = {
    "epochs": 120, "batch_size": 64, "lr": 0.003, "weight_decay": 0.0005, "seed": 0,
    "channels": [32, 64], "hidden": 128, "dropout": 0.3, "label_smoothing": 0.1, "shift": 1,
}
# The student for small devices: the same network, narrow and without the dense layer (at most
# 10,000 parameters on the digits, checked by tests/test_distill.py), meant to be distilled from a
# cnn-digits run (`zoo train cnn-tiny-digits --teacher RUN`); defaults measured in benchmarks/distill.py.
TINY_DEFAULTS = {
    "epochs": 60, "batch_size": 64, "lr": 0.01, "weight_decay": 0.0005, "seed": 0,
    "channels": [10, 20], "hidden": 0, "dropout": 0.1, "label_smoothing": 0.0, "shift": 1,
}
HELP = {
    "channels": Help("output channels of each conv stage (two 3x3 conv-BN-ReLU layers, then 2x2 max-pooling)",
                     min_items=1, minimum=1),
    "hidden": Help("units of the dense layer before the class logits (0: the pooled features go straight to the "
                   "logits)", minimum=0),
    "dropout": Help("dropout before the dense head", minimum=0, exclusive_maximum=1),
}


LICENSE = "mit"  # the model (weights and code) is released under zoo's MIT licence; the data keeps its own


HEAD = "classifier"  # the dense layers after pooling: --init makes the ones shaped by the classes afresh
ACCEPTS = "images, grey or RGB (1 or 3 channels), any size from 8x8 (--data FOLDER or .npz)"


@hookimpl
def zoo_models():
    return [ModelSpec(name="cnn-digits", family=FAMILY, task="classification", dataset="digits",
                      summary="VGG-style conv net (conv-BN-ReLU pairs, max-pool stages) for digit images",
                      default_config=DEFAULTS, config_help=HELP, head=HEAD, accepts=ACCEPTS),
            ModelSpec(name="cnn-tiny-digits", family=FAMILY, task="classification", dataset="digits",
                      summary="the same conv net narrowed for small devices, a student to distil from cnn-digits",
                      default_config=TINY_DEFAULTS, config_help=HELP, head=HEAD, accepts=ACCEPTS)]


@hookimpl
def zoo_build(spec, config, info):
    """Sized from the data: its channels (1 grey, 3 colour), height and width, and number of classes."""
    from zoo.data import DataError
    from zoo_cnn.models import DigitsCNN

    if info.layout != "image" or len(info.sample_shape) != 3:
        raise DataError(f"{spec.name} classifies images (N, C, H, W); got {info.layout} samples shaped "
                        f"{tuple(info.sample_shape)}")
    channels, height, width = info.sample_shape
    return DigitsCNN(channels, height, width, info.num_classes, channels=config["channels"],
                     hidden=config["hidden"], dropout=config["dropout"])


_TINY_TEXT = {
    "description": (
        "The family's convolutional network narrowed for small devices: stages of two 3x3 convolution + "
        "batch-norm + ReLU layers with few channels (channels per stage from the config), 2x2 max-pooling between "
        "stages, adaptive average pooling to 2x2, dropout and one linear layer to the class logits, with no dense "
        "hidden layer. "
        "Meant to be trained as a student: `zoo train cnn-tiny-digits --teacher RUN` distils a cnn-digits run "
        "(the core's classifier recipe with the distillation loss); it also trains alone, on the labels only."),
    "intended_use": (
        "Teaching and testing on small devices: the digit classifier to deploy where the reference network is "
        "too large, and the zoo's example of distillation (compare it with and without its teacher on the same "
        "fixed split)."),
}


@hookimpl
def zoo_model_card(spec):
    """The hand-written part of the card; zoo measures and adds every number."""
    return {
        "license": LICENSE,
        "description": (
            "A small VGG-style convolutional network: stages of two 3x3 convolution + batch-norm + ReLU "
            "layers (channels per stage from the config), 2x2 max-pooling between stages, adaptive average "
            "pooling to 2x2, then dropout and a fully connected head to one logit per class. Trained with "
            "AdamW, cosine learning-rate decay and cross-entropy (the core's classifier recipe)."),
        "intended_use": (
            "Teaching and testing: a reference classifier for the zoo's tooling (training, ONNX export, "
            "parity checks, model cards) and a baseline to compare other digit classifiers against on the "
            "same fixed split."),
        **(_TINY_TEXT if spec.name == "cnn-tiny-digits" else {}),
        "out_of_scope_use": (
            "Reading digits in real documents (cheques, forms, postcodes, meters), any decision about a "
            "person, and any input that is not an 8x8 grey image of one centred handwritten digit scaled "
            "to [0, 1]: the network answers one of ten digits for every input, including blank or "
            "unrelated images, with no way to say 'none of these'."),
        "factors": (
            "Results are disaggregated by digit class. The writer, the most important factor for handwriting, "
            "is not recorded in the data, so per-writer performance cannot be measured."),
        "data_notes": {
            "preprocessing": ("The network takes the dataset's images as they are, one grey channel each; "
                              "augmentation during training, if any, is the core's (`shift`) and is stated "
                              "below from the run's config."),
        },
        "explainability": (
            "Attributions say which pixels moved this network's logits, not the reasons a person would "
            "give for reading a digit; on 8x8 digits a blank pixel carries information too (the absence "
            "of a stroke), which a zero baseline cannot credit. Read the maps together with their measured "
            "faithfulness and sanity check above."),
        "safety": {
            "risks": ("Wrong answers with high scores, and a digit for every input, also for inputs that are "
                      "not digits (see the measured calibration and out-of-distribution detection above). "
                      "Accuracy on this split overstates accuracy on new writers."),
            "misuse": ("Using the model to read digits from people's documents, or presenting its test score "
                       "as evidence that it works on real handwriting."),
        },
        "limitations": (
            "Inputs of the trained size only (other sizes need retraining on other data); a small dataset "
            "from a few writers; the model applies no temperature and has no rejection option (the card "
            "measures both the temperature to apply and how well its scores flag non-digits). Before any use "
            "beyond teaching, "
            "evaluate on data from new writers and add an out-of-distribution check."),
    }
