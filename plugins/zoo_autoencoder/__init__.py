"""Built-in family: dense and sparse (KL-penalised) autoencoders for images."""
from __future__ import annotations

from zoo import ModelSpec, hookimpl
from zoo.specs import Help

FAMILY = "autoencoder"

# Sized for the committed zoo (benchmarks/zoo_size.py); the sparse code needs the longer schedule to
# beat PCA with every seed tried (benchmarks/quality.py).
_COMMON = {"epochs": 400, "batch_size": 64, "lr": 0.002, "weight_decay": 0.0001, "seed": 0}
HELP = {
    "hidden": Help("units of the encoder's ReLU layers, outermost first (the decoder mirrors them)", minimum=1),
    "code_size": Help("numbers in the code between encoder and decoder", minimum=1),
    "code_activation": Help("activation of the code: linear or sigmoid", choices=("linear", "sigmoid")),
    "sparsity_weight": Help("weight of the KL sparsity penalty on mean code activations (0: none)", minimum=0),
    "sparsity_target": Help("mean code activation the sparsity penalty pulls toward", exclusive_minimum=0,
                            exclusive_maximum=1),
}


LICENSE = "mit"  # the model (weights and code) is released under zoo's MIT licence; the data keeps its own


@hookimpl
def zoo_models():
    return [
        ModelSpec(name="ae-digits", family=FAMILY, task="reconstruction", dataset="digits",
                  summary="Dense autoencoder: image to a short linear code and back",
                  default_config={**_COMMON, "hidden": [128, 64], "code_size": 16, "code_activation": "linear",
                                  "sparsity_weight": 0.0, "sparsity_target": 0.05}, config_help=HELP),
        ModelSpec(name="sparse-ae-digits", family=FAMILY, task="reconstruction", dataset="digits",
                  summary="Sparse autoencoder: sigmoid code with a KL sparsity penalty on mean activations",
                  default_config={**_COMMON, "epochs": 800, "hidden": [128, 64], "code_size": 16,
                                  "code_activation": "sigmoid", "sparsity_weight": 0.01, "sparsity_target": 0.1},
                  config_help=HELP),
    ]


@hookimpl
def zoo_build(spec, config, info):
    from zoo.data import DataError
    from zoo_autoencoder.models import Autoencoder

    if info.layout != "image":
        raise DataError(f"{spec.name} reconstructs images (N, C, H, W); got samples shaped {info.sample_shape}")
    return Autoencoder(info.sample_shape, config["code_size"], hidden=config["hidden"],
                       code_activation=config["code_activation"])


@hookimpl
def zoo_train(spec, model, data, config, context):
    """Loss: reconstruction MSE, plus ``sparsity_weight`` x KL(target || mean code activation)."""
    import torch

    from zoo.recipes import cosine_schedule, optimizer
    from zoo.training import fit
    from zoo_autoencoder.models import kl_sparsity_penalty

    encoder, decoder = context.distribute(model.encoder), context.distribute(model.decoder)
    opt = optimizer(model.parameters(), config)
    weight, target = float(config["sparsity_weight"]), float(config["sparsity_target"])

    def step(x, _y):
        code = encoder(x)
        mse = torch.nn.functional.mse_loss(decoder(code), x)
        loss = mse + weight * kl_sparsity_penalty(code, target) if weight > 0 else mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach(), "mse": mse.detach()}

    def validate():
        x = torch.from_numpy(data.val.x).to(context.world.device)
        return {"val_mse": torch.nn.functional.mse_loss(model(x), x).item()}

    return fit(context, model, {"model": opt}, data.train, step, validate, {"model": cosine_schedule(opt, config)})


@hookimpl
def zoo_evaluate(spec, model, data, config):
    """Test MSE and PSNR beside PCA with the same code size; the mean code activation."""
    import torch

    from zoo.metrics import pca_baseline_mse, reconstruction_metrics
    from zoo.training import predict_batches

    x = torch.from_numpy(data.test.x)
    code = predict_batches(model.encoder, x)
    metrics = reconstruction_metrics(data.test.x, predict_batches(model.decoder, code).numpy())
    metrics["baseline_pca_mse"] = pca_baseline_mse(data.train.x, data.test.x, config["code_size"])
    metrics["mse_vs_pca"] = metrics["mse"] / metrics["baseline_pca_mse"]
    metrics["mean_code_activation"] = float(code.mean())
    return metrics


@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    """The whole autoencoder, and its encoder and decoder as graphs of their own."""
    import torch

    from zoo.graphs import COMPONENT, GraphInput, OnnxGraph

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, *info.sample_shape, generator=generator)
    codes = model.encoder(images).detach()
    low, high = (0.0, 1.0) if config["code_activation"] == "sigmoid" else (float(codes.min()), float(codes.max()))
    return [
        OnnxGraph("model", model, [GraphInput("input", images)], ["reconstruction"]),
        OnnxGraph("encoder", model.encoder, [GraphInput("input", images)], ["code"], role=COMPONENT),
        OnnxGraph("decoder", model.decoder, [GraphInput("code", codes, low=low, high=high)], ["reconstruction"],
                  role=COMPONENT),
    ]


@hookimpl
def zoo_model_card(spec):
    """The hand-written part of the card; zoo measures and adds every number."""
    return {
        "license": LICENSE,
        "description": (
            "A fully connected autoencoder: the encoder flattens the image and maps it through ReLU layers "
            "(`hidden`) to a code of `code_size` numbers (`code_activation`: linear or sigmoid); the decoder "
            "mirrors it and ends in a sigmoid, so pixels come back in [0, 1]. Trained with AdamW and cosine "
            "learning-rate decay on the mean squared reconstruction error, plus a KL penalty weighted by "
            "`sparsity_weight` (0: none) that pulls the mean code activation toward `sparsity_target`. Its "
            "test error is reported beside PCA with the same number of components, the linear baseline it "
            "has to beat."),
        "intended_use": (
            "Teaching and testing: learning compact codes of 8x8 digits, comparing a nonlinear autoencoder "
            "with PCA, and exercising the export of several graphs (model, encoder, decoder) from one model."),
        "out_of_scope_use": (
            "Anomaly or fraud detection, compression of real documents, denoising or restoring images that "
            "matter, and any input other than 8x8 grey digit images in [0, 1]: a low reconstruction error "
            "here says only that an input looks like these digits."),
        "factors": ("Reconstruction error is an average over all test images; no class or writer breakdown "
                    "is reported, and digits that are rare in style may reconstruct worse than the average."),
        "data_notes": {
            "preprocessing": "Labels are not used for training: the model sees only the pixels.",
        },
        "explainability": (
            "Originals beside their reconstructions, one test image per class: what the code keeps (overall "
            "shape) and what it loses (thin strokes, unusual styles). A code number's traversal shows what "
            "changes with it in this model only; the units have no meaning given in advance."),
        "safety": {
            "risks": ("Reconstructions look plausible even when wrong: the decoder turns any code into a "
                      "digit-like image, so an output can suggest a digit the input did not contain."),
            "misuse": ("Presenting reconstructions as the original data, or using reconstruction error as a "
                       "trusted detector of fraud or anomalies in real data."),
        },
        "limitations": (
            "Trained on a small set of 8x8 digit images from a few writers; small codes blur strokes; the "
            "error is measured on the same writers as training. Compare with the PCA baseline before "
            "drawing conclusions, and retrain and re-measure on your own data before any other use."),
    }
