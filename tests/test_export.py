"""`zoo export`: real exports of tiny trained runs, checked with onnx and onnxruntime."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import TINY, invoke_zoo, one_error_line, run_zoo
from onnx_support import exported, trained

from zoo import bundle
from zoo.bundle.export import ExportError, export_run


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def torch_graphs(name):
    from zoo.models import load_trained, onnx_graphs

    spec, model, data, config, _ = load_trained(trained(name))
    return {g.name: g for g in onnx_graphs(spec, model, data.info, config)}


def test_cli_export_writes_a_checked_bundle_and_prints_no_exporter_noise(tmp_path):
    """In its own process, so that whatever torch.onnx writes to the real stdout and stderr is seen."""
    out = tmp_path / "cnn"
    result = run_zoo("export", str(trained("cnn-digits")), "--out", str(out))
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.splitlines()[0].startswith(f"bundle: {out}")
    assert "Warning" not in result.out and "torch.onnx" not in result.out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "config.json", "export.log", "manifest.json", "model.onnx", "test_data/model.npz", "weights.safetensors"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "cnn-digits" and manifest["family"] == "cnn" and manifest["opset"] == 18
    assert manifest["plugin"]["name"] == "cnn" and manifest["plugin"]["version"]
    assert set(manifest["versions"]) >= {"torch", "onnx", "onnxruntime"}
    assert manifest["run"]["path"] == str(trained("cnn-digits").resolve())
    assert manifest["files"] == bundle.checksums(out)
    graph = manifest["graphs"][0]
    assert graph["inputs"][0] | {"shape": None} == {"name": "input", "dtype": "float32", "shape": None,
                                                    "distribution": "uniform", "low": 0.0, "high": 1.0}
    assert graph["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    assert graph["outputs"] == [{"name": "output", "dtype": "float32", "shape": ["batch", 10]}]
    assert graph["tolerances"] == {"output": {"atol": 1e-5, "rtol": 1e-4}}
    onnx.checker.check_model(str(out / "model.onnx"), full_check=True)


def test_test_vectors_hold_pytorchs_answers_and_onnxruntime_matches_them():
    graph = bundle.open_bundle(exported("cnn-digits")).graph()
    inputs, outputs = graph.test_vectors()
    module = torch_graphs("cnn-digits")["model"].module
    with torch.no_grad():
        np.testing.assert_array_equal(module(torch.from_numpy(inputs["input"])).numpy(), outputs["output"])
    got = session(graph.path).run(None, inputs)[0]
    np.testing.assert_allclose(got, outputs["output"], atol=1e-5, rtol=1e-4)
    batch = np.random.default_rng(0).random((33, 1, 8, 8), dtype=np.float32)
    assert session(graph.path).run(None, {"input": batch})[0].shape == (33, 10)


def test_an_existing_bundle_is_refused_without_force_and_replaced_with_it(tmp_path):
    dest = tmp_path / "b"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    result = invoke_zoo("export", str(trained("cnn-digits")), "--out", str(dest))
    assert result.code == 2 and "--force" in one_error_line(result.err)
    export_run(trained("cnn-digits"), dest, force=True)
    assert not (dest / "old.txt").exists() and (dest / "manifest.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_an_interrupted_export_leaves_nothing_behind(tmp_path, monkeypatch):
    import zoo.bundle.export

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.bundle.export, "write_graph", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_run(trained("cnn-digits"), tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_unknown_exporter_is_refused(tmp_path):
    with pytest.raises(ExportError, match="unknown exporter"):
        export_run(trained("cnn-digits"), tmp_path / "never", exporter="tracing")
    assert not (tmp_path / "never").exists()


def test_rnn_runs_at_time_lengths_other_than_the_export_length():
    graph = bundle.open_bundle(exported("rnn-digits")).graph()
    assert graph.inputs[0]["shape"] == ["batch", "time", 8]
    module = torch_graphs("rnn-digits")["model"].module
    rng = np.random.default_rng(1)
    for length in (3, 8, 13):
        x = rng.random((5, length, 8), dtype=np.float32)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(session(graph.path).run(None, {"input": x})[0], want, atol=1e-5, rtol=1e-4)


def test_autoencoder_exports_model_encoder_and_decoder_that_compose():
    opened = bundle.open_bundle(exported("ae-digits"))
    assert [g.name for g in opened.graphs] == ["model", "encoder", "decoder"]
    x = np.random.default_rng(2).random((6, 1, 8, 8), dtype=np.float32)
    code = session(opened.graph("encoder").path).run(None, {"input": x})[0]
    assert code.shape == (6, TINY["ae-digits"]["code_size"])
    through = session(opened.graph("decoder").path).run(None, {"code": code})[0]
    whole = session(opened.graph("model").path).run(None, {"input": x})[0]
    np.testing.assert_allclose(through, whole, atol=1e-5)


def test_conditional_gan_exports_a_generator_taking_noise_and_labels():
    graph = bundle.open_bundle(exported("cgan-digits")).graph()
    assert graph.name == "generator"
    assert [(i["name"], i["dtype"]) for i in graph.inputs] == [("noise", "float32"), ("labels", "int64")]
    module = torch_graphs("cgan-digits")["generator"].module
    noise_dim = graph.inputs[0]["shape"][1]
    noise = np.random.default_rng(3).standard_normal((10, noise_dim)).astype(np.float32)
    labels = np.arange(10, dtype=np.int64)
    with torch.no_grad():
        want = module(torch.from_numpy(noise), torch.from_numpy(labels)).numpy()
    got = session(graph.path).run(None, {"noise": noise, "labels": labels})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
