"""The four built-in families: built right, trained for real (tiny epochs), measured with their metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from conftest import TINY
from zoo.models import load_trained
from zoo.runs import open_run

CLASSIFIER_KEYS = {"accuracy", "precision_macro", "recall_macro", "f1_macro", "confusion_matrix", "per_class",
                   "confidence_intervals"}


def test_every_builtin_model_is_covered():
    assert {s.name for s in zoo.list_models() if s.plugin in {"cnn", "rnn", "fcn", "autoencoder", "gan"}} == set(TINY)


@pytest.mark.parametrize("name", ["cnn-digits", "cnn-tiny-digits", "rnn-digits", "lstm-digits", "gru-digits",
                                  "fcn-digits-rows"])
def test_classifiers_learn_and_report_full_metrics(tiny_run, name):
    metrics = tiny_run(name).metrics()["metrics"]
    assert CLASSIFIER_KEYS <= set(metrics)
    assert metrics["accuracy"] > 0.3, "three tiny epochs already beat chance (0.1) by far"
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 360
    assert np.isclose(np.trace(matrix) / 360, metrics["accuracy"])
    low, high = metrics["confidence_intervals"]["accuracy"]
    assert low <= metrics["accuracy"] <= high
    history = tiny_run(name).history()
    assert history[-1]["loss"] < history[0]["loss"]


@pytest.mark.parametrize("cell, module", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_sequence_models_take_batched_sequences_of_any_length(cell, module):
    model = zoo.create_model(f"{cell}-digits", hidden_size=16).eval()
    assert isinstance(model.rnn, module) and model.rnn.batch_first
    for length in (3, 8, 20):
        assert model(torch.rand(5, length, 8)).shape == (5, 10)


def test_autoencoders_report_mse_psnr_and_pca_baseline(tiny_run):
    dense = tiny_run("ae-digits").metrics()["metrics"]
    sparse = tiny_run("sparse-ae-digits").metrics()["metrics"]
    for metrics in (dense, sparse):
        assert {"mse", "psnr", "baseline_pca_mse", "mean_code_activation"} <= set(metrics)
        assert np.isclose(metrics["psnr"], 10 * np.log10(1 / metrics["mse"]))
        low, high = metrics["confidence_intervals"]["mse"]
        assert low < metrics["mse"] < high and metrics["confidence_intervals"]["resamples"] == 1000
        assert 0 < metrics["baseline_pca_mse"] < 0.06
    spec, model, data, _, _ = load_trained(tiny_run("ae-digits").path)
    x = torch.from_numpy(data.test.x[:4])
    code = model.encoder(x)
    assert code.shape == (4, TINY["ae-digits"]["code_size"]) and model.decoder(code).shape == x.shape
    assert torch.allclose(model(x), model.decoder(code))


def test_kl_sparsity_penalty():
    from zoo_autoencoder.models import kl_sparsity_penalty

    assert kl_sparsity_penalty(torch.full((10, 4), 0.05), 0.05).item() == pytest.approx(0.0, abs=1e-6)
    dense_code, sparse_code = torch.full((10, 4), 0.5), torch.full((10, 4), 0.1)
    assert kl_sparsity_penalty(dense_code, 0.05) > kl_sparsity_penalty(sparse_code, 0.05) > 0


def test_sparsity_penalty_lowers_code_activation(tmp_path):
    common = {**TINY["ae-digits"], "code_activation": "sigmoid"}
    free = zoo.train("ae-digits", epochs=4, overrides={**common, "sparsity_weight": 0.0}, out=tmp_path / "a")
    sparse = zoo.train("ae-digits", epochs=4, overrides={**common, "sparsity_weight": 0.5}, out=tmp_path / "b")
    assert (sparse.metrics()["metrics"]["mean_code_activation"]
            < 0.5 * free.metrics()["metrics"]["mean_code_activation"])


@pytest.mark.parametrize("name", ["gan-digits", "cgan-digits"])
def test_gans_train_both_networks_and_report_frechet_distances(tiny_run, name):
    """The tiny GAN's own samples beat the naive baseline (per-pixel Gaussian noise with the data's mean
    and spread) by a margin: measured 0.42-0.53 of its Frechet distance on seeds 0-2 (see conftest.TINY)."""
    metrics = tiny_run(name).metrics()["metrics"]
    assert {"frechet_distance", "frechet_distance_baseline", "frechet_distance_real"} <= set(metrics)
    assert metrics["frechet_distance_real"] < metrics["frechet_distance_baseline"], "the yardstick itself works"
    assert metrics["frechet_distance"] < 0.75 * metrics["frechet_distance_baseline"], metrics
    assert metrics["frechet_ratio_to_baseline"] == pytest.approx(
        metrics["frechet_distance"] / metrics["frechet_distance_baseline"])
    assert ("label_accuracy" in metrics) == (name == "cgan-digits")
    if name == "cgan-digits":
        assert metrics["label_accuracy"] > 0.75, "samples are the digits asked for (chance: 0.1)"
    history = tiny_run(name).history()
    assert {"d_loss", "g_loss"} <= set(history[0])
    spec, model, _, config, _ = load_trained(tiny_run(name).path)
    fresh = zoo.create_model(name, **TINY[name])
    for part in ("generator", "discriminator"):
        moved = [not torch.equal(a, b) for a, b in zip(getattr(model, part).parameters(),
                                                       getattr(fresh, part).parameters())]
        assert all(moved), f"every {part} parameter is trained"
    average, raw, start = (list(m.parameters()) for m in (model.generator_ema, model.generator, fresh.generator))
    assert not any(p.requires_grad for p in average), "the moving average is never trained directly"
    assert all(not torch.equal(a, r) and not torch.equal(a, s) for a, r, s in zip(average, raw, start)), \
        "the average has left the initial weights but lags behind the trained ones"


def test_conditional_generator_and_discriminator_shapes():
    model = zoo.create_model("cgan-digits", generator_hidden="32", discriminator_hidden="32").eval()
    labels = torch.tensor([0, 3, 9])
    images = model.generator(torch.randn(3, model.generator.noise_dim), labels)
    assert images.shape == (3, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    assert model.discriminator(images, labels).shape == (3,)
    with pytest.raises(ValueError, match="class-conditional"):
        model.generator(torch.randn(3, model.generator.noise_dim))


def test_evaluation_is_deterministic(tiny_run):
    for name in ("cgan-digits", "sparse-ae-digits", "gru-digits"):
        assert zoo.evaluate(tiny_run(name).path) == tiny_run(name).metrics()["metrics"]


def test_families_fit_user_data_shapes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 12, 12)).astype(np.uint8)
    y = np.repeat(np.arange(4), 50)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    run = zoo.train("cnn-digits", epochs=1, overrides=TINY["cnn-digits"], data=tmp_path / "d.npz", out=tmp_path / "c")
    assert run.record["data"]["sample_shape"] == [1, 12, 12] and run.record["data"]["num_classes"] == 4
    run = zoo.train("lstm-digits", epochs=1, overrides=TINY["lstm-digits"], data=tmp_path / "d.npz",
                    out=tmp_path / "l")
    assert run.record["data"]["sample_shape"] == [12, 12]


def image_folder(root, size: tuple[int, int], mode: str, per_class: int = 10):
    """Two classes of real image files written with Pillow: dark and bright noise, grey or colour."""
    from PIL import Image

    rng = np.random.default_rng(0)
    channels = {"L": (), "RGB": (3,)}[mode]
    for label, (low, high) in {"dark": (0, 120), "bright": (130, 256)}.items():
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(low, high, (*size, *channels), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / label / f"{i}.png")
    return root


@pytest.mark.parametrize("size, mode, shape", [((28, 28), "L", [1, 28, 28]), ((64, 64), "RGB", [3, 64, 64]),
                                               ((30, 30), "RGB", [3, 30, 30])])
def test_the_cnn_fits_image_folders_of_any_size_and_colour(tmp_path, monkeypatch, size, mode, shape):
    """Channels, size and classes come from the folder; the graph exports (30x30 leaves a 15x15 map that
    adaptive pooling to 2x2 cannot export as such) and ONNX Runtime agrees with PyTorch."""
    from zoo.bundle.export import export_run
    from zoo.bundle.verify import verify

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    folder = image_folder(tmp_path / "photos", size, mode)
    run = zoo.train("cnn-digits", epochs=1, overrides=TINY["cnn-digits"], data=folder, out=tmp_path / "run")
    assert run.record["data"]["sample_shape"] == shape and run.record["data"]["num_classes"] == 2
    report = verify(export_run(run.path, tmp_path / "bundle"), batch_sizes=(1, 3))
    assert report["passed"], report


def test_families_take_what_fits_and_refuse_the_rest_in_one_line(tmp_path, monkeypatch):
    """The recurrent family reads grey images as rows (as digits-rows does) but refuses colour images; the
    sequence families refuse images, the image families sequences: each one `error:` line, exit 2."""
    from conftest import invoke_zoo, one_error_line
    from zoo.data import DataError, DataInfo
    from zoo.models import build
    from zoo.registry import get_model

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    grey = image_folder(tmp_path / "grey", (12, 10), "L")
    result = invoke_zoo("train", "gru-digits", "--data", str(grey), "--epochs", "1", "--out", str(tmp_path / "gru"),
                        *[arg for k, v in TINY["gru-digits"].items() if k != "epochs" for arg in ("--set", f"{k}={v}")])
    assert result.code == 0, result.err
    data_line = [line for line in result.out.splitlines() if line.startswith("data: ")]
    assert data_line and data_line[0].startswith("data: decoded 20 images in "), result.out  # how it was read
    run = open_run(tmp_path / "gru")
    assert run.record["data"]["sample_shape"] == [12, 10], "12 rows of 10 pixels"
    colour = image_folder(tmp_path / "colour", (12, 10), "RGB")
    for name in ("gru-digits", "fcn-digits-rows"):
        result = invoke_zoo("train", name, "--data", str(colour), "--epochs", "1", "--out", str(tmp_path / name))
        assert result.code == 2 and "this model takes sequences" in one_error_line(result.err)
        assert not (tmp_path / name).exists(), "nothing written"
    photos = DataInfo("photos", "image", (3, 28, 28), 2)
    for name in ("gru-digits", "fcn-digits-rows"):
        with pytest.raises(DataError, match=r"reads sequences \(N, T, F\)"):
            build(get_model(name), get_model(name).default_config, photos)
    gan = build(get_model("cgan-digits"), get_model("cgan-digits").default_config, photos)
    assert gan["generator"](torch.randn(2, 64), torch.tensor([0, 1])).shape == (2, 3, 28, 28)
