"""Built-in family: generative adversarial networks (unconditional and class-conditional)."""
from __future__ import annotations

from zoo import ModelSpec, hookimpl
from zoo.specs import Help

FAMILY = "gan"
SAMPLES = 1000

# Sized for the committed zoo (benchmarks/zoo_size.py); the unconditional GAN needs 300 epochs at this
# width to stay clearly under its Frechet goal (benchmarks/quality.py).
_COMMON = {"epochs": 200, "batch_size": 64, "lr": 0.001, "lr_discriminator": 0.001, "weight_decay": 0.0,
           "seed": 0, "noise_dim": 64, "generator_hidden": [128, 256], "discriminator_hidden": [256, 128],
           "dropout": 0.5, "real_label": 0.9, "ema_decay": 0.995}
HELP = {
    "lr": Help("learning rate of the generator (Adam betas 0.5, 0.999)", exclusive_minimum=0),
    "lr_discriminator": Help("learning rate of the discriminator", exclusive_minimum=0),
    "noise_dim": Help("numbers of Gaussian noise the generator maps to an image", minimum=1),
    "generator_hidden": Help("units of the generator's LeakyReLU layers", minimum=1),
    "discriminator_hidden": Help("units of the discriminator's LeakyReLU layers", minimum=1),
    "dropout": Help("dropout in the discriminator", minimum=0, exclusive_maximum=1),
    "real_label": Help("target for real images (one-sided label smoothing below 1)", exclusive_minimum=0, maximum=1),
    "ema_decay": Help("decay of the moving average of the generator's weights, which is sampled and exported",
                      minimum=0, exclusive_maximum=1),
    "conditional": "condition generator and discriminator on the digit label",
}


LICENSE = "mit"  # the model (weights and code) is released under zoo's MIT licence; the data keeps its own


@hookimpl
def zoo_models():
    return [
        ModelSpec(name="gan-digits", family=FAMILY, task="generation", dataset="digits", needs_labels=True,
                  summary="MLP GAN: generator and discriminator with non-saturating BCE-with-logits losses",
                  default_config={**_COMMON, "epochs": 300, "conditional": False}, config_help=HELP),
        ModelSpec(name="cgan-digits", family=FAMILY, task="generation", dataset="digits", needs_labels=True,
                  summary="Class-conditional MLP GAN (label embedding; projection discriminator)",
                  default_config={**_COMMON, "conditional": True}, config_help=HELP),
    ]


@hookimpl
def zoo_build(spec, config, info):
    import copy

    from torch import nn

    from zoo.data import DataError
    from zoo_gan.models import Discriminator, Generator

    if info.layout != "image":
        raise DataError(f"{spec.name} generates images (N, C, H, W); got samples shaped {info.sample_shape}")
    classes = info.num_classes if config["conditional"] else 0
    generator = Generator(config["noise_dim"], info.sample_shape, config["generator_hidden"], classes)
    # The moving average of the generator's weights is what gets sampled, evaluated and exported:
    # it averages out the oscillation of adversarial training (the raw G scores 2-4x worse here).
    average = copy.deepcopy(generator).requires_grad_(False)
    return nn.ModuleDict({
        "generator": generator,
        "discriminator": Discriminator(info.sample_shape, config["discriminator_hidden"], classes,
                                       config["dropout"]),
        "generator_ema": average,
    })


def _sample_labels(n: int, classes: int, device, generator=None):
    import torch

    return torch.randint(0, classes, (n,), device=device, generator=generator) if classes else None


@hookimpl
def zoo_train(spec, model, data, config, context):
    """Alternating steps: D on real and G(z).detach() in one batch, then G against D (target real),
    then the moving average of G moves ``1 - ema_decay`` of the way towards G."""
    import torch

    from zoo.recipes import optimizer
    from zoo.training import fit

    generator, discriminator = context.distribute(model.generator), context.distribute(model.discriminator)
    opt_g = optimizer(model.generator.parameters(), config, betas=(0.5, 0.999))
    opt_d = optimizer(model.discriminator.parameters(), config, lr=float(config["lr_discriminator"]),
                      betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    classes = model.generator.num_classes
    noise_dim, real_label = int(config["noise_dim"]), float(config["real_label"])
    keep = float(config["ema_decay"])
    pairs = list(zip(model.generator_ema.parameters(), model.generator.parameters()))

    def step(x, y):
        n, device = len(x), x.device
        real_y = y if classes else None
        fake_y = _sample_labels(n, classes, device)
        with torch.no_grad():
            fake = generator(torch.randn(n, noise_dim, device=device), fake_y)
        both_y = torch.cat([real_y, fake_y]) if classes else None
        targets = torch.cat([torch.full((n,), real_label, device=device), torch.zeros(n, device=device)])
        d_loss = bce(discriminator(torch.cat([x, fake]), both_y), targets)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        fake_y = _sample_labels(n, classes, device)
        g_loss = bce(discriminator(generator(torch.randn(n, noise_dim, device=device), fake_y), fake_y),
                     torch.ones(n, device=device))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        with torch.no_grad():
            for average, current in pairs:
                average.lerp_(current, 1.0 - keep)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    return fit(context, model, {"generator": opt_g, "discriminator": opt_d}, data.train, step)


def samples(model, config, n: int = SAMPLES):
    """``n`` seeded samples (balanced over classes when conditional) and their requested labels."""
    import torch

    generator = torch.Generator().manual_seed(int(config["seed"]))
    classes = model.generator_ema.num_classes
    z = torch.randn(n, int(config["noise_dim"]), generator=generator)
    labels = torch.arange(classes).repeat_interleave(-(-n // classes))[:n] if classes else None
    with torch.no_grad():
        return model.generator_ema(z, labels).numpy(), None if labels is None else labels.numpy()


@hookimpl
def zoo_evaluate(spec, model, data, config):
    """Frechet distances in a reference classifier's feature space; label accuracy when conditional."""
    import numpy as np

    from zoo.metrics import frechet_distance, reference_classifier

    reference = reference_classifier(data)
    images, labels = samples(model, config)
    rng = np.random.default_rng(int(config["seed"]))
    mean, std = data.train.x.mean(axis=0), data.train.x.std(axis=0)
    naive = np.clip(rng.normal(mean, std, size=(len(images), *mean.shape)), 0.0, 1.0)
    test = reference.features(data.test.x)
    metrics = {
        "frechet_distance": frechet_distance(reference.features(images), test),
        "frechet_distance_baseline": frechet_distance(reference.features(naive), test),
        "frechet_distance_real": frechet_distance(reference.features(data.train.x), test),
        "reference_accuracy": float((reference.predict(data.test.x) == data.test.y).mean()),
    }
    metrics["frechet_ratio_to_baseline"] = metrics["frechet_distance"] / metrics["frechet_distance_baseline"]
    if labels is not None:
        metrics["label_accuracy"] = float((reference.predict(images) == labels).mean())
    return metrics


@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    """The generator's moving average: noise (and labels, when conditional) to images."""
    import torch

    from zoo.graphs import GraphInput, OnnxGraph

    generator = torch.Generator().manual_seed(0)
    classes = model.generator_ema.num_classes
    inputs = [GraphInput("noise", torch.randn(2, int(config["noise_dim"]), generator=generator),
                         distribution="normal")]
    if classes:
        inputs.append(GraphInput("labels", torch.tensor([0, classes - 1]), distribution="integers",
                                 low=0, high=classes))
    return [OnnxGraph("generator", model.generator_ema, inputs, ["images"])]


@hookimpl
def zoo_model_card(spec):
    """The hand-written part of the card; zoo measures and adds every number."""
    conditional = bool(spec.default_config["conditional"])
    kind = ("class-conditional: the generator also takes a digit label (a learned embedding) and the "
            "discriminator uses a projection of the label" if conditional else "unconditional")
    return {
        "license": LICENSE,
        "description": (
            f"A generative adversarial network with multilayer-perceptron generator and discriminator, {kind}. "
            "The generator maps Gaussian noise of `noise_dim` numbers through LeakyReLU layers to an 8x8 "
            "image with a sigmoid output; the discriminator (LeakyReLU layers, dropout `dropout`) scores real "
            "against generated images with non-saturating binary cross-entropy losses, the real images' "
            "target being `real_label` (below 1: one-sided label smoothing). Samples, metrics and the ONNX "
            "graph come from an exponential moving average of the generator's weights (`ema_decay`). "
            "Samples are scored by the Frechet "
            "distance in the feature space of a reference MLP classifier trained on the training split, "
            "beside the distance of a naive per-pixel Gaussian baseline and of real training images."),
        "intended_use": (
            "Teaching and testing: showing adversarial training on a small dataset, "
            + ("generating digits of a requested class, " if conditional else "")
            + "and exercising ONNX export of a generator with noise"
            + (" and label inputs." if conditional else " input.")),
        "out_of_scope_use": (
            "Producing data to train or evaluate other models as if it were real, forging handwriting or "
            "documents, and any claim about image quality beyond 8x8 digits: the Frechet distance used here "
            "is a small in-house measure, not comparable with published FID scores."),
        "factors": (("Label accuracy of conditional samples is the share the reference classifier assigns to "
                     "the requested class. " if conditional else "")
                    + f"Sample quality varies by class and by noise draw; only averages over {SAMPLES:,} seeded "
                      "samples are reported."),
        "data_notes": {
            "preprocessing": ("Labels are used only to condition the generator and discriminator."
                              if conditional else "Labels are not used for training: the model sees only the "
                                                  "pixels."),
        },
        "explainability": (
            "A grid of samples drawn with a fixed seed, " + ("one row per requested digit class, " if conditional
                                                             else "")
            + "not cherry-picked: it shows what the generator produces, including failures such as mode "
              "collapse (rows of near-identical samples). Why a sample looks as it does is not explained."),
        "safety": {
            "risks": ("Generated digits can be mistaken for real data, and a generator may reproduce training "
                      "images closely (see the measured data-copying check above)."),
            "misuse": ("Passing generated samples off as collected data, or as handwriting of a real person."),
        },
        "limitations": (
            "GAN training is unstable: results depend on the seed and can collapse to a few modes. A small "
            "training split of 8x8 digit images from a few writers. The reference classifier that scores "
            "samples is itself imperfect (its test accuracy is reported). Inspect the sample grid, not only "
            "the numbers."),
    }
