"""Trusting zoo's own verdicts: `zoo verify` never passes on nothing, and a bundle never reads outside itself.

Every bundle here is real: a tiny exported model, altered with onnx and re-signed (its manifest's
checksums made consistent again) as a careless or hostile tool would, then opened by the real
onnxruntime. The CLI runs in-process with click's CliRunner, except where onnxruntime's own C++
output on stderr matters (there a subprocess sees what a user sees).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data
from onnx_support import copy_bundle, exported, resign

from zoo import bundle
from zoo.bundle import BundleError, external_data_locations, open_bundle
from zoo.bundle.verify import verify
from zoo.cli import cli

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def zoo(*args: str):
    """`zoo ARGS` in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def edit_manifest(path: Path, change) -> None:
    manifest = json.loads((path / bundle.MANIFEST).read_text())
    change(manifest)
    (path / bundle.MANIFEST).write_text(json.dumps(manifest))


def with_external_weights(path: Path) -> Path:
    """Re-save the bundle's graph with every initializer in ``weights.bin`` beside it; returns that file."""
    model = onnx.load(str(path / "model.onnx"))
    onnx.save_model(model, str(path / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    return path / "weights.bin"


def relocate(graph_file: Path, location: str) -> None:
    """Point every external tensor of ``graph_file`` at ``location`` (onnx refuses to save such paths)."""
    model = onnx.load(str(graph_file), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    graph_file.write_bytes(model.SerializeToString())


@pytest.fixture
def nothing_loaded(monkeypatch):
    """Fail the test if any file of the bundle is hashed or any graph given to onnxruntime (the shared bundle is
    exported first: exporting runs ONNX Runtime on the new graph, which is not what the test watches)."""
    exported("cnn-digits")
    def refuse(*args, **kwargs):
        raise AssertionError(f"loaded although the bundle should have been refused first: {args[:1]}")

    monkeypatch.setattr(bundle, "sha256_file", refuse)
    monkeypatch.setattr(ort, "InferenceSession", refuse)


def escaping_bundle(tmp_path: Path, how: str) -> tuple[Path, str]:
    """A bundle whose graph reads its weights from outside it, checksums consistent; (bundle, named path)."""
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    weights = with_external_weights(copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(weights, elsewhere / "weights.bin")
    if how == "relative":
        named = "../elsewhere/weights.bin"
        relocate(copy / "model.onnx", named)
    elif how == "absolute":
        named = str(elsewhere / "weights.bin")
        relocate(copy / "model.onnx", named)
    else:  # a symlink inside the bundle that leads out of it
        named = "weights.bin"
        os.symlink(elsewhere / "weights.bin", copy / "weights.bin")
    resign(copy)
    return copy, named


# (1) external data outside the bundle: refused before anything is loaded

@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_external_data_outside_the_bundle_is_refused_before_loading(tmp_path, monkeypatch, how):
    copy, named = escaping_bundle(tmp_path, how)
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: pytest.fail("onnxruntime was given the graph"))
    code, out, err = zoo("verify", str(copy), "--batch-sizes", "2")
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith(f"error: {copy}: ") and repr(named) in line and "is outside the bundle" in line
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    assert zoo("predict", str(copy), str(tmp_path / "x.npy")) == (2, "", err)


def test_the_refusal_needs_no_torch(zoo_cli, tmp_path, without_torch):
    copy, named = escaping_bundle(tmp_path, "relative")
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    result = zoo_cli("predict", str(copy), str(tmp_path / "x.npy"), env=without_torch)
    assert result.code == 2 and result.out == ""
    assert result.err == (f"error: {copy}: graph 'model' external data {named!r} is outside the bundle "
                          f"(bundle paths are relative, without '..')\n")


def test_without_zoos_check_onnxruntime_refuses_it_and_verify_fails(tmp_path, monkeypatch):
    """The second line of defence, and the issue's reproduction: this report used to say passed, 0 checks."""
    copy, _ = escaping_bundle(tmp_path, "relative")
    monkeypatch.setattr(bundle, "external_data_locations", lambda path: [])
    report = verify(copy, batch_sizes=(2,))
    assert not report["passed"] and report["failures"] == report["ran"] > 0
    assert report["providers"]["cpu"]["status"].startswith("failed: CPUExecutionProvider could not load graph 'model'")
    assert "External data" in report["providers"]["cpu"]["status"]
    assert {r["status"] for r in report["checks"] + report["task"]} == {"fail"}


def test_external_data_inside_the_bundle_must_be_checksummed(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    with_external_weights(copy)
    resign(copy)
    report = verify(copy, batch_sizes=(2,))  # external data, inside and checksummed: fine
    assert report["passed"] and report["ran"] == 3
    edit_manifest(copy, lambda m: m["files"].pop("weights.bin"))  # now it could be swapped unseen
    code, out, err = zoo("verify", str(copy))
    assert (code, out) == (2, "")
    assert err == (f"error: {copy}: graph 'model' external data 'weights.bin' is not covered by the manifest's "
                   f"checksums\n")


# (2) a graph onnxruntime cannot load: a failure with its reason, never a pass, never a traceback

def broken_graph_bundle(tmp_path: Path) -> Path:
    """A valid protobuf that is not a valid model (an operator no one registered), checksums consistent."""
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    model = onnx.load(str(copy / "model.onnx"))
    model.graph.node[0].op_type = "NoSuchOp"
    onnx.save(model, str(copy / "model.onnx"))
    resign(copy)
    return copy


def test_a_graph_onnxruntime_cannot_load_fails_verify_with_the_reason(zoo_cli, tmp_path):
    copy = broken_graph_bundle(tmp_path)
    result = zoo_cli("verify", str(copy), "--batch-sizes", "2", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["passed"] is False and report["failures"] == report["ran"] == 3
    assert report["providers"]["cpu"]["status"].startswith("failed: CPUExecutionProvider could not load graph")
    cpu_rows = [r for r in report["checks"] + report["task"] if r["provider"] == "cpu"]
    assert cpu_rows and all(r["status"] == "fail" and "NoSuchOp" in r["reason"] for r in cpu_rows)
    [line] = result.err.splitlines()
    assert line.startswith("error: verification failed: 3 of 3 checks failed; first: model/output on cpu "
                           "(test vectors): CPUExecutionProvider could not load graph 'model' (")


def test_the_card_of_a_bundle_that_failed_verification_says_not_verified(tmp_path):
    from zoo.bundle import VERIFICATION
    from zoo.fsutil import atomic_write_json
    from zoo.cards.writer import write_card

    copy = broken_graph_bundle(tmp_path)
    report = verify(copy, batch_sizes=[2])
    assert not report["passed"]
    atomic_write_json(copy / VERIFICATION, report)  # where zoo publish keeps the bundle's report
    card, written = write_card(copy, ["md"], tmp_path / "card" / "card.md")
    assert card["parity"]["status"] == "not verified"
    assert "ONNX parity: **not verified** (verification failed:" in written[0].read_text()


def test_predict_on_a_graph_onnxruntime_cannot_load_is_one_error_line(zoo_cli, tmp_path, without_torch):
    copy = broken_graph_bundle(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    result = zoo_cli("predict", str(copy), str(tmp_path / "x.npy"), env=without_torch)
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    [line] = result.err.splitlines()
    assert line.startswith(f"error: {copy / 'model.onnx'}: onnxruntime cannot load graph 'model' (")
    assert "NoSuchOp" in line
    from zoo.hub.index import load_bundle

    with pytest.raises(BundleError, match="onnxruntime cannot load graph 'model'"):
        load_bundle(copy)


# (3) nothing ran is not a pass

@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA: the rows would run")
def test_verify_with_only_a_missing_provider_is_not_a_pass():
    path = str(exported("cnn-digits"))
    code, out, err = zoo("verify", path, "--providers", "cuda", "--batch-sizes", "2", "--json")
    report = json.loads(out)
    assert code == 1 and report["passed"] is False and report["ran"] == 0 and report["failures"] == 0
    assert {r["status"] for r in report["checks"] + report["task"]} == {"skipped"}
    assert err == (f"error: verification failed: no check ran; cuda-strict, cuda-tf32 skipped: CUDAExecutionProvider "
                   f"not available in onnxruntime {ort.__version__} (install onnxruntime-gpu and run on a machine "
                   f"with a GPU)\n")
    code, out, err = zoo("verify", path, "--providers", "cpu,cuda", "--batch-sizes", "2", "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["ran"] == 3 and err == ""
    assert {r["status"] for r in report["checks"] + report["task"] if r["provider"].startswith("cuda")} == {"skipped"}
    code, out, err = zoo("verify", path, "--providers", "cpu,cuda", "--batch-sizes", "2", "--require", "cuda")
    assert code == 1 and err.splitlines() == [
        "error: verification failed: 0 of 3 checks failed; required but skipped: cuda-strict, cuda-tf32"]


# (4) every path a manifest names stays inside the bundle

def _graph(m):
    return m["graphs"][0]


OUTSIDE = {
    "graph file ../": (lambda m, x: _graph(m).update(file="../x.onnx"), "graph 'model' file '../x.onnx'"),
    "graph file absolute": (lambda m, x: _graph(m).update(file=str(x / "x.onnx")), "graph 'model' file '{x}/x.onnx'"),
    "graph file backslash": (lambda m, x: _graph(m).update(file="..\\x.onnx"), "graph 'model' file '..\\\\x.onnx'"),
    "graph file inner ..": (lambda m, x: _graph(m).update(file="test_data/../../x.onnx"),
                            "graph 'model' file 'test_data/../../x.onnx'"),
    "test data ../": (lambda m, x: _graph(m).update(test_data="../t.npz"), "graph 'model' test_data '../t.npz'"),
    "files key ../": (lambda m, x: m["files"].update({"../x": "0" * 64}), "checksummed file '../x'"),
    "files key absolute": (lambda m, x: m["files"].update({str(x / "x"): "0" * 64}), "checksummed file '{x}/x'"),
}


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_a_manifest_path_outside_the_bundle_is_refused_before_anything_is_read(tmp_path, nothing_loaded, case):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    for name in ("x.onnx", "x"):  # real, loadable files outside, so that following the path would "work"
        shutil.copy(copy / "model.onnx", tmp_path / name)
    shutil.copy(copy / "test_data" / "model.npz", tmp_path / "t.npz")
    change, named = OUTSIDE[case]
    edit_manifest(copy, lambda m: change(m, tmp_path))
    code, out, err = zoo("verify", str(copy))
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(f"error: {copy}: {named.format(x=tmp_path)} is outside the bundle")


def test_graph_files_must_be_onnx_and_checksummed(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    edit_manifest(copy, lambda m: m["files"].pop("model.onnx"))
    with pytest.raises(BundleError, match="graph 'model' file 'model.onnx' is not covered by the manifest's checksums"):
        open_bundle(copy)
    shutil.copy(copy / "model.onnx", copy / "model.ort")
    resign(copy)
    edit_manifest(copy, lambda m: _graph(m).update(file="model.ort"))
    with pytest.raises(BundleError, match="graph 'model' file 'model.ort' is not an .onnx file"):
        open_bundle(copy)


# the reader of external-data locations, without the onnx package

def _external(name: str, location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.ones(2, np.float32), name)
    set_external_data(tensor, location=location)
    tensor.ClearField("raw_data")
    return tensor


def test_every_place_a_tensor_can_sit_is_read(tmp_path):
    """Initializers, sparse initializers, Constant attributes, subgraphs, functions, training info."""
    then = helper.make_graph([helper.make_node("Identity", ["w_then"], ["y"])], "then", [],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                             [_external("w_then", "then.bin")])
    constant = helper.make_node("Constant", [], ["c"], value=_external("c", "sub/constant.bin"))
    consts = helper.make_node("Constant", [], ["d"], value=_external("d", "function.bin"))
    node_if = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=then)
    sparse = helper.make_sparse_tensor(_external("sv", "sparse-values.bin"), _external("si", "sparse-idx.bin"), [4])
    graph = helper.make_graph([constant, node_if], "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              [_external("w", "weights.bin")], sparse_initializer=[sparse])
    model = helper.make_model(graph)
    model.functions.append(helper.make_function(
        "local", "f", [], ["d"], [consts], [helper.make_opsetid("", 18)],
        attribute_protos=[helper.make_attribute("k", _external("k", "function-default.bin"))]))
    training = model.training_info.add()
    training.initialization.CopyFrom(helper.make_graph([], "init", [], [], [_external("t", "training.bin")]))
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    assert sorted(external_data_locations(path)) == sorted([
        "weights.bin", "sub/constant.bin", "then.bin", "then.bin", "sparse-values.bin", "sparse-idx.bin",
        "function.bin", "function-default.bin", "training.bin"])
    exported_graph = exported("cnn-digits") / "model.onnx"
    assert external_data_locations(exported_graph) == []
    path.write_bytes(b"\x0a\xff\xff\xff\xff\x0f")  # a field longer than the file
    with pytest.raises(ValueError, match="DecodeError"):
        external_data_locations(path)


def test_a_graph_reading_outside_from_a_subgraph_or_process_memory_is_refused(tmp_path):
    copy = copy_bundle("cnn-digits", tmp_path / "b")
    model = onnx.load(str(copy / "model.onnx"))
    model.graph.node.insert(0, helper.make_node("Constant", [], ["unused"], value=_external("u", "../../etc.bin")))
    onnx.save(model, str(copy / "model.onnx"))
    resign(copy)
    with pytest.raises(BundleError, match=r"graph 'model' external data '\.\./\.\./etc\.bin' is outside the bundle"):
        open_bundle(copy)
    model.graph.node[0].attribute[0].t.external_data[0].value = "*/_ORT_MEM_ADDR_/*"
    onnx.save(model, str(copy / "model.onnx"))
    resign(copy)
    with pytest.raises(BundleError, match="names process memory, not a file"):
        open_bundle(copy)
    (copy / "model.onnx").write_bytes(b"\x0f not a protobuf")
    resign(copy)
    with pytest.raises(BundleError, match="model.onnx: not an ONNX protobuf"):
        open_bundle(copy)
