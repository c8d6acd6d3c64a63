"""Built-in family: convolutional image classifiers."""
from __future__ import annotations

from zoo import ModelSpec, hookimpl

FAMILY = "cnn"

DEFAULTS = {
    "epochs": 30, "batch_size": 64, "lr": 0.003, "weight_decay": 0.0005, "seed": 0,
    "channels": [32, 64], "hidden": 128, "dropout": 0.3, "label_smoothing": 0.0, "shift": 1,
}


@hookimpl
def zoo_models():
    return [ModelSpec(name="cnn-digits", family=FAMILY, task="classification", dataset="digits",
                      summary="Two-stage conv net (conv-BN-ReLU x2, max-pool) for 8x8 digits",
                      default_config=DEFAULTS)]


@hookimpl
def zoo_build(spec, config, info):
    if spec.family != FAMILY:
        return None
    from zoo_cnn.models import DigitsCNN

    channels, height, width = info.sample_shape
    return DigitsCNN(channels, height, width, info.num_classes, channels=config["channels"],
                     hidden=config["hidden"], dropout=config["dropout"])


@hookimpl
def zoo_train(spec, model, data, config, context):
    if spec.family != FAMILY:
        return None
    from zoo.recipes import random_shift, train_classifier

    shift = int(config["shift"])
    return train_classifier(model, data, config, context, augment=lambda x: random_shift(x, shift))


@hookimpl
def zoo_evaluate(spec, model, data, config):
    if spec.family != FAMILY:
        return None
    from zoo.recipes import evaluate_classifier

    return evaluate_classifier(model, data)
