"""`zoo predict` and the deployer's API (``zoo.load_bundle``): raw files in, task-level answers out, with
numpy, Pillow and onnxruntime only (torch made unimportable in the subprocess runs); ``--raw`` keeps the
graph's tensors, checked against the manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_error_line
from onnx_support import exported
from PIL import Image

import zoo
from zoo import bundle
from zoo.bundle import BundleError


def digit_files(folder, count: int = 6, size: int = 40):
    """Real PNG and JPEG files of test digits, written as people would: dark ink on white, larger than 8x8."""
    from zoo.models import load_model_data
    from zoo.registry import get_model

    folder.mkdir(parents=True, exist_ok=True)
    test = load_model_data(get_model("cnn-digits")).test
    paths = []
    for i in range(count):
        ink = (255 - np.rint(test.x[i, 0] * 255)).astype(np.uint8)
        path = folder / f"digit-{i}.{'png' if i % 2 == 0 else 'jpg'}"
        image = Image.fromarray(ink).resize((size, size), Image.Resampling.NEAREST)
        image.save(path, quality=95) if path.suffix == ".jpg" else image.save(path)
        paths.append(path)
    return paths, test.y[:count], test.x[:count]


def test_predict_an_image_prints_its_class_by_name_with_the_probability(zoo_cli, tmp_path, without_torch):
    paths, labels, arrays = digit_files(tmp_path / "digits")
    result = zoo_cli("predict", str(exported("cnn-digits")), str(paths[0]), "--top-k", "2", env=without_torch)
    assert result.code == 0, result.err
    header, row = result.out.strip().splitlines()
    assert header.split() == ["INPUT", "CLASS", "PROBABILITY", "NEXT"]
    model = zoo.load_bundle(exported("cnn-digits"))
    tensor_answer = model.predict(arrays[:1])[0]  # the same digit given as the array training read
    assert row.split()[:3] == [str(paths[0]), tensor_answer.label, f"{tensor_answer.top[0][1]:.4f}"]
    assert model.class_names == list("0123456789")


def test_a_folder_gives_one_answer_per_file_in_order_hidden_files_left_out(zoo_cli, tmp_path, without_torch):
    paths, labels, arrays = digit_files(tmp_path / "digits")
    (tmp_path / "digits" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    result = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "digits"), "--json", env=without_torch)
    assert result.code == 0, result.err
    answers = json.loads(result.out)
    assert [a["input"] for a in answers] == [str(p) for p in paths]
    by_array = zoo.load_bundle(exported("cnn-digits")).predict(arrays)
    assert [a["label"] for a in answers] == [a.label for a in by_array]  # the files read as training read them
    assert all(1 >= a["top"][0]["probability"] >= a["top"][1]["probability"] > 0 for a in answers)


def test_a_generator_writes_samples_as_png(zoo_cli, tmp_path, without_torch):
    grid = tmp_path / "threes.png"
    result = zoo_cli("predict", str(exported("cgan-digits")), "--n", "6", "--label", "3", "--out", str(grid),
                     env=without_torch)
    assert result.code == 0, result.err
    with Image.open(grid) as image:
        assert image.mode == "L" and image.width > 6 * 64 - 1  # six 8x8 samples enlarged side by side
    again = zoo_cli("predict", str(exported("cgan-digits")), "--n", "6", "--out", str(grid), env=without_torch)
    assert again.code == 2 and "already exists" in one_error_line(again.err)
    folder = tmp_path / "samples"
    assert zoo_cli("predict", str(exported("gan-digits")), "--n", "3", "--out", str(folder)).code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["sample-0.png", "sample-1.png", "sample-2.png"]
    generated = zoo.load_bundle(exported("cgan-digits")).generate(4, seed=1, label=7)
    assert generated.images.shape == (4, 1, 8, 8) and generated.labels.tolist() == [7, 7, 7, 7]


def test_an_autoencoder_answers_its_reconstruction_error_and_writes_the_reconstructions(tmp_path):
    paths, _, arrays = digit_files(tmp_path / "digits", count=2)
    model = zoo.load_bundle(exported("ae-digits"))
    answers = model.predict(paths)
    assert [a.source for a in answers] == [str(p) for p in paths]
    raw = model.run({"input": arrays})[model.outputs[0]["name"]]
    np.testing.assert_allclose(answers[0].error, ((raw[0] - arrays[0]) ** 2).mean(), rtol=0.05)
    from zoo.bundle.writing import save_images

    written = save_images([a.reconstruction for a in answers], tmp_path / "out", model.preprocessing,
                          [p.name for p in paths])
    assert [p.name for p in written] == ["digit-0.png", "digit-1.png"]


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"hello", "notes.txt: not an image zoo can read, nor sequences (.csv, .ts) or tensors (.npy, .npz)"),
    ("fake.png", b"\x89PNG\r\n\x1a\n broken", "fake.png: not an image zoo can read"),
    ("rows.ts", b"@problemName x\n@univariate false\n@dimensions 6\n@equalLength true\n@seriesLength 2\n"
                b"@classLabel false\n@data\n" + b":".join([b"0.1,0.2"] * 6) + b"\n",
     "rows.ts: expected 8 features per step, got 6"),
    ("walk.csv", b"label,t0,t1\n1,0.1,0.2\n", "walk.csv: a sequence file; this model takes images"),
])
def test_a_file_of_the_wrong_kind_is_named_for_what_it_is(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    model = "lstm-digits" if name.endswith(".ts") else "cnn-digits"
    with pytest.raises(BundleError) as caught:
        zoo.load_bundle(exported(model)).predict([path])
    assert message in str(caught.value) and "pickle" not in str(caught.value)


def test_raw_tensors_run_without_torch_and_match_the_test_vectors(zoo_cli, tmp_path, without_torch):
    graph = bundle.open_bundle(exported("cnn-digits")).graph()
    inputs, outputs = graph.test_vectors()
    np.save(tmp_path / "x.npy", inputs["input"])
    result = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), "--raw", "--out",
                     str(tmp_path / "y.npy"), env=without_torch)
    assert result.code == 0, result.err
    assert result.out.strip() == f"written: {tmp_path / 'y.npy'}  (output (2, 10))"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), outputs["output"], atol=1e-5, rtol=1e-4)
    shown = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), "--raw", env=without_torch)
    assert shown.code == 0 and "output  float32  (2, 10)" in shown.out
    answered = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), env=without_torch)
    assert answered.code == 0 and answered.out.splitlines()[2].startswith("x.npy[1]")  # answers, one per sample


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 1, 7, 8), np.float32), "must be shaped (batch, 1, 8, 8), got (3, 1, 7, 8)"),
    (np.zeros((3, 1, 8, 8), np.float64), "must be float32, got float64"),
    (np.zeros((1, 8, 8), np.float32), "must be shaped (batch, 1, 8, 8), got (1, 8, 8)"),
    (np.zeros((0, 1, 8, 8), np.float32), "is empty (shaped (0, 1, 8, 8)); give at least one sample"),
])
def test_input_that_does_not_fit_the_signature_is_one_clear_error(zoo_cli, tmp_path, without_torch, array, message):
    np.save(tmp_path / "x.npy", array)
    result = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), env=without_torch)
    assert result.code == 2 and one_error_line(result.err) == f"error: input 'input' of graph 'model' {message}"


def test_npz_inputs_by_name_and_graph_choice(tmp_path):
    ae = exported("ae-digits")
    code_size = bundle.open_bundle(ae).graph("decoder").inputs[0]["shape"][1]
    np.savez(tmp_path / "codes.npz", code=np.zeros((4, code_size), np.float32))
    decoder = zoo.load_bundle(ae, graph="decoder")
    assert decoder.run(decoder.read(tmp_path / "codes.npz").feeds)["reconstruction"].shape == (4, 1, 8, 8)
    with pytest.raises(BundleError, match="graph 'model' takes inputs input; got code"):
        zoo.load_bundle(ae).read(tmp_path / "codes.npz")
    with pytest.raises(BundleError, match="has no graph 'decodr'"):
        zoo.load_bundle(ae, graph="decodr")
    generator = zoo.load_bundle(exported("cgan-digits"))
    noise_dim = generator.inputs[0]["shape"][1]
    np.savez(tmp_path / "gen.npz", noise=np.zeros((2, noise_dim), np.float32), labels=np.array([1, 2, 3]))
    with pytest.raises(BundleError, match="inputs 'noise' and 'labels' disagree on 'batch' \\(2 and 3\\)"):
        generator.read(tmp_path / "gen.npz")


def test_pickled_input_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([object()]), allow_pickle=True)
    with pytest.raises(BundleError, match="refusing to unpickle"):
        zoo.load_bundle(exported("cnn-digits")).read(tmp_path / "x.npy")
    import pickle

    from PIL import Image

    (tmp_path / "list.npy").write_bytes(pickle.dumps([1, 2]))  # a bare pickle named .npy
    with pytest.raises(BundleError, match="a pickle\\); refusing to unpickle"):
        zoo.load_bundle(exported("cnn-digits")).read(tmp_path / "list.npy")
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")  # an image under an array's name is named for what it is
    (tmp_path / "digit.npy").write_bytes((tmp_path / "digit.png").read_bytes())
    with pytest.raises(BundleError, match="not a .npy or .npz file \\(it is a PNG image\\); give images by"):
        zoo.load_bundle(exported("cnn-digits")).read(tmp_path / "digit.npy")
