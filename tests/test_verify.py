"""`zoo verify`: passing on honest bundles, and failing on tampered files, altered graphs and tight tolerances."""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import invoke_zoo, one_error_line
from onnx_support import copy_bundle, exported, resign

from zoo import bundle
from zoo.bundle import BundleError
from zoo.bundle.verify import compare, modes, open_session, verify


def by_status(rows, status):
    return [r for r in rows if r["status"] == status]


def test_an_honest_bundle_passes_on_cpu_against_pytorch_at_every_batch_size():
    report = verify(exported("cnn-digits"), batch_sizes=(1, 7, 64))
    assert report["passed"] and report["checksums"] == "ok"
    assert report["providers"]["cpu"]["status"] == "ran on CPUExecutionProvider"
    assert report["reference"].startswith("pytorch (run ")
    assert [(r["case"], r["reference"]) for r in report["checks"]] == [
        ("test vectors", "pytorch (stored)"), ("random b=1", "pytorch"), ("random b=7", "pytorch"),
        ("random b=64", "pytorch")]
    for row in report["checks"]:
        assert row["status"] == "pass" and row["needed_atol"] <= row["atol"] == 1e-5
        assert row["max_abs"] < 1e-5 and row["max_rel"] >= 0
    [task] = report["task"]
    assert task["task"] == "classification" and task["samples"] > 100
    assert task["argmax_agreement"] == 1.0 and task["accuracy_delta"] == 0.0


def test_rnn_is_checked_at_other_time_lengths_and_autoencoder_on_reconstruction_mse():
    rnn = verify(exported("rnn-digits"), batch_sizes=(2,))
    assert rnn["passed"]
    assert {r["case"] for r in rnn["checks"]} == {"test vectors", "random b=2", "random b=2 time=4",
                                                  "random b=2 time=17"}
    ae = verify(exported("ae-digits"), batch_sizes=(3,))
    assert ae["passed"] and {r["graph"] for r in ae["checks"]} == {"model", "encoder", "decoder"}
    [task] = ae["task"]
    assert task["task"] == "reconstruction" and abs(task["mse_delta"]) < 1e-6


def test_gan_task_check_compares_generated_images():
    [task] = verify(exported("cgan-digits"), batch_sizes=(4,))["task"]
    assert task["graph"] == "generator" and task["status"] == "pass" and task["max_abs_diff"] < 1e-5


def test_cli_reports_cuda_as_skipped_and_require_cuda_fails():
    path = str(exported("cnn-digits"))
    result = invoke_zoo("verify", path, "--providers", "cpu,cuda", "--batch-sizes", "2", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    for mode in ("cuda-strict", "cuda-tf32"):
        assert report["providers"][mode]["status"].startswith("skipped: CUDAExecutionProvider not available")
        assert {r["status"] for r in report["checks"] + report["task"] if r["provider"] == mode} == {"skipped"}
    assert report["providers"]["cuda-strict"]["tf32"] is False and report["providers"]["cuda-tf32"]["tf32"] is True
    required = invoke_zoo("verify", path, "--providers", "cpu,cuda", "--batch-sizes", "2", "--require", "cuda")
    assert required.code == 1
    assert one_error_line(required.err) == (
        "error: verification failed: 0 of 3 checks failed; required but skipped: cuda-strict, cuda-tf32")


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider' is not in available provider names")
def test_a_session_that_falls_back_to_cpu_counts_as_skipped(monkeypatch):
    """onnxruntime lists CUDA but, asked for it, quietly runs on the CPU: a fallback is skipped (no CUDA
    result), and told apart from a provider that could not start (next test), which fails."""
    graph = bundle.open_bundle(exported("cnn-digits")).graph()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    session, note = open_session(graph, modes(["cuda"])[0])
    assert session is None and note == "skipped: the session fell back to CPUExecutionProvider"


def test_a_provider_that_cannot_start_fails_with_the_reason(monkeypatch):
    graph = bundle.open_bundle(exported("cnn-digits")).graph()

    def refuse(*args, **kwargs):
        raise RuntimeError("CUDA driver version is insufficient for CUDA runtime version\nmore detail")

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", refuse)
    session, note = open_session(graph, modes(["cuda"])[0])
    assert session is None and note == ("failed: CUDAExecutionProvider could not load graph 'model' (RuntimeError: "
                                        "CUDA driver version is insufficient for CUDA runtime version)")


def test_a_tampered_weight_file_fails_with_one_line_naming_it(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    original = (copy / "model.onnx").read_bytes()
    data = bytearray(original)
    data[-100] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    result = invoke_zoo("verify", str(copy))
    assert result.code == 2 and result.out == ""
    assert one_error_line(result.err) == (
        f"error: {copy / 'model.onnx'}: checksum mismatch (tampered with or damaged since export)")
    (copy / "model.onnx").write_bytes(original)
    (copy / "test_data" / "model.npz").unlink()
    with pytest.raises(BundleError, match="model.npz: missing from the bundle"):
        verify(copy)


def _alter_graph(path):
    """Scale the last layer's bias, then re-sign the manifest as a careless (or hostile) tool would."""
    model = onnx.load(str(path / "model.onnx"))
    last = model.graph.initializer[-1]
    array = onnx.numpy_helper.to_array(last) + 0.5
    last.CopyFrom(onnx.numpy_helper.from_array(array.astype(np.float32), last.name))
    onnx.save(model, str(path / "model.onnx"))
    resign(path)


def test_a_graph_with_altered_outputs_fails_every_comparison(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    _alter_graph(copy)
    report = verify(copy, batch_sizes=(5,))
    assert not report["passed"]
    assert {(r["case"], r["status"]) for r in report["checks"]} == {("test vectors", "fail"), ("random b=5", "fail")}
    assert all(r["max_abs"] > 0.1 for r in report["checks"])
    result = invoke_zoo("verify", str(copy), "--batch-sizes", "5")
    assert result.code == 1
    assert re.fullmatch(r"error: verification failed: [23] of 3 checks failed; first: model/output on cpu "
                        r"\(test vectors\): max abs error \S+, needs atol \S+ > 1e-05", one_error_line(result.err))


def test_a_too_tight_tolerance_fails_and_says_what_would_have_passed():
    report = verify(exported("cnn-digits"), batch_sizes=(64,), tolerance=(1e-12, 0.0))
    failed = by_status(report["checks"], "fail")
    assert failed and not report["passed"]
    for row in failed:
        assert row["atol"] == 1e-12 and row["needed_atol"] == row["max_abs"] > 1e-12


def test_without_the_run_the_stored_vectors_are_still_checked(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["run"]["path"] = str(tmp_path / "gone")
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    report = verify(copy, batch_sizes=(2,))
    assert report["reference"].startswith("skipped: ") and "gone" in report["reference"]
    assert [(r["case"], r["status"]) for r in report["checks"]] == [("test vectors", "pass"), ("random b=2", "skipped")]
    assert report["task"][0]["status"] == "skipped" and report["passed"]


def test_compare_counts_nan_and_shape_mismatch_as_failures():
    assert compare(np.array([np.nan]), np.array([1.0]), 1.0, 1.0)["status"] == "fail"
    assert compare(np.array([np.nan]), np.array([np.nan]), 0.0, 0.0)["status"] == "pass"
    assert compare(np.zeros(3), np.zeros(4), 1.0, 1.0)["status"] == "fail"
    result = compare(np.array([1.1, 2.0]), np.array([1.0, 2.0]), 0.05, 0.01)
    assert result["status"] == "fail" and result["needed_atol"] == pytest.approx(0.09)
