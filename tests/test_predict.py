"""`zoo predict`: the deployer's path, onnxruntime and numpy only, with the input checked against the manifest."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import one_error_line
from onnx_support import exported

from zoo import bundle
from zoo.bundle import BundleError
from zoo.bundle.predict import predict


def test_cli_predict_runs_without_torch_and_matches_the_test_vectors(zoo_cli, tmp_path, without_torch):
    graph = bundle.open_bundle(exported("cnn-digits")).graph()
    inputs, outputs = graph.test_vectors()
    np.save(tmp_path / "x.npy", inputs["input"])
    result = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / "y.npy"), env=without_torch)
    assert result.code == 0, result.err
    assert result.out.strip() == f"written: {tmp_path / 'y.npy'}  (output (2, 10))"
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), outputs["output"], atol=1e-5, rtol=1e-4)
    shown = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), env=without_torch)
    assert shown.code == 0 and "output  float32  (2, 10)" in shown.out


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 1, 7, 8), np.float32), "must be shaped (batch, 1, 8, 8), got (3, 1, 7, 8)"),
    (np.zeros((3, 1, 8, 8), np.float64), "must be float32, got float64"),
    (np.zeros((1, 8, 8), np.float32), "must be shaped (batch, 1, 8, 8), got (1, 8, 8)"),
])
def test_input_that_does_not_fit_the_signature_is_one_clear_error(zoo_cli, tmp_path, without_torch, array, message):
    np.save(tmp_path / "x.npy", array)
    result = zoo_cli("predict", str(exported("cnn-digits")), str(tmp_path / "x.npy"), env=without_torch)
    assert result.code == 2 and one_error_line(result.err) == f"error: input 'input' of graph 'model' {message}"


def test_npz_inputs_by_name_and_graph_choice(tmp_path):
    ae = exported("ae-digits")
    code_size = bundle.open_bundle(ae).graph("decoder").inputs[0]["shape"][1]
    np.savez(tmp_path / "codes.npz", code=np.zeros((4, code_size), np.float32))
    assert predict(ae, tmp_path / "codes.npz", "decoder")["reconstruction"].shape == (4, 1, 8, 8)
    with pytest.raises(BundleError, match="graph 'model' takes inputs input; got code"):
        predict(ae, tmp_path / "codes.npz")
    with pytest.raises(BundleError, match="has no graph 'decodr'"):
        predict(ae, tmp_path / "codes.npz", "decodr")
    generator = exported("cgan-digits")
    noise_dim = bundle.open_bundle(generator).graph().inputs[0]["shape"][1]
    np.savez(tmp_path / "gen.npz", noise=np.zeros((2, noise_dim), np.float32), labels=np.array([1, 2, 3]))
    with pytest.raises(BundleError, match="inputs 'noise' and 'labels' disagree on 'batch' \\(2 and 3\\)"):
        predict(generator, tmp_path / "gen.npz")


def test_pickled_input_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([object()]), allow_pickle=True)
    with pytest.raises(BundleError, match="refusing to unpickle"):
        predict(exported("cnn-digits"), tmp_path / "x.npy")
