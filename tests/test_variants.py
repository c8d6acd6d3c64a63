"""Bundle variants (int8, fp16): how they are made, what the manifest says of them, how `zoo verify` judges
them and how `zoo predict` runs them, on the session's tiny models (the published models' numbers are
benchmarks/variants.py's)."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import TINY, invoke_zoo, one_error_line, run_zoo

from zoo import bundle
from zoo.bundle import BundleError, open_bundle
from zoo.bundle import variants as precision
from zoo.bundle.export import export_run
from zoo.bundle.verify import summary, verify


# The session's tiny CNN (3 epochs) reaches about 0.77 accuracy: so many near-ties that int8's rounding
# flips 2% of its answers, which says nothing about the quantizer. Ten epochs at a higher rate give a
# model that, like the published one (see benchmarks/variants.py), has margins to keep.
SETTLED_CNN = {**TINY["cnn-digits"], "epochs": 10, "lr": 0.01}


@pytest.fixture(scope="module")
def with_variants(tiny_run, tmp_path_factory):
    """``with_variants(name)``: a tiny run of ``name`` exported once with int8 and fp16 (never modify it)."""
    import zoo

    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            root = tmp_path_factory.mktemp("variants")
            run = (zoo.train(name, overrides=SETTLED_CNN, out=root / "run") if name == "cnn-digits"
                   else tiny_run(name))
            made[name] = export_run(run.path, root / name, variants="int8,fp16")
        return made[name]

    return get


def ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def task_row(report, variant, provider="cpu"):
    [row] = [r for r in report["task"] if r.get("variant") == variant and r["provider"] == provider]
    return row


def test_parse_keeps_fp32_first_and_refuses_unknown_names():
    assert precision.parse(None) == ["fp32"]
    assert precision.parse("fp16, int8") == ["fp32", "int8", "fp16"]
    assert precision.parse(None, default=precision.PUBLISH_DEFAULT) == ["fp32", "int8", "fp16"]
    with pytest.raises(precision.VariantError, match=r"unknown variant 'int4' \(did you mean 'int8'\?\)"):
        precision.parse("int4")


def test_cnn_int8_is_static_qdq_smaller_and_keeps_the_task_within_the_family_tolerance(with_variants):
    path = with_variants("cnn-digits")
    manifest = json.loads((path / bundle.MANIFEST).read_text())
    assert manifest["variants"] == ["fp32", "int8", "fp16"]
    [entry] = manifest["graphs"]
    int8, fp16 = entry["variants"]["int8"], entry["variants"]["fp16"]
    assert int8["file"] == "model.int8.onnx" and fp16["file"] == "model.fp16.onnx"
    for variant in (int8, fp16):  # listed with their checksums, and how they were made
        assert manifest["files"][variant["file"]] == bundle.sha256_file(path / variant["file"])
        assert variant["method"] and variant["note"]
    assert int8["mode"] == "static QDQ" and int8["calibration"] == "512 training samples"
    assert int8["quantized_ops"]["Conv"] == ops(path / "model.onnx")["Conv"] > 0
    assert int8["float_ops"] == {} and not int8["partial"]
    found = ops(path / "model.int8.onnx")
    assert found["QuantizeLinear"] > 0 and found["DequantizeLinear"] > 0 and "ConvInteger" not in found
    size = lambda name: (path / name).stat().st_size  # noqa: E731
    # smaller; how much smaller depends on the model's size (the published model's: benchmarks/variants.py)
    assert size("model.int8.onnx") < size("model.onnx") and size("model.fp16.onnx") < size("model.onnx")
    assert entry["variant_tolerances"]["int8"] == {"max_accuracy_drop": 0.005, "min_argmax_agreement": 0.99,
                                                   "max_mse_increase": 0.05, "max_frechet_increase": 0.1}

    report = verify(path, batch_sizes=(3,))
    assert report["passed"], summary(report)
    for variant in ("int8", "fp16"):
        row = task_row(report, variant)
        assert row["metric"] == "accuracy" and row["samples"] > 100 and row["status"] == "pass"
        assert row["fp32"] - row["value"] <= row["limits"]["max_accuracy_drop"]
        assert row["argmax_agreement"] >= row["limits"]["min_argmax_agreement"]
    numeric = [r for r in report["checks"] if r.get("variant") == "int8"]
    assert {r["case"] for r in numeric} == {"test vectors", "random b=3"}
    assert all(r["status"] == "pass" and r["reference"] == "onnxruntime fp32 cpu" and r["max_abs"] >= 0 for r in numeric)


def test_lstm_int8_uses_the_dynamic_lstm_kernel(with_variants):
    path = with_variants("lstm-digits")
    int8 = open_bundle(path).graph().variants["int8"]
    assert int8["mode"] == "dynamic" and int8["calibration"] is None
    found = ops(path / "model.int8.onnx")
    assert found["DynamicQuantizeLSTM"] == 1 and found["LSTM"] == 0 and found["MatMulInteger"] == 1
    assert int8["quantized_ops"] == {"DynamicQuantizeLSTM": 1, "MatMulInteger": 1} and int8["float_ops"] == {}
    assert int8["quantized_weight_fraction"] > 0.9


def test_gru_int8_says_which_parts_stay_fp32(with_variants):
    path = with_variants("gru-digits")
    int8 = open_bundle(path).graph().variants["int8"]
    assert int8["float_ops"] == {"GRU": 1} and int8["quantized_ops"] == {"MatMulInteger": 1} and int8["partial"]
    assert int8["quantized_weight_fraction"] < 0.2
    assert "still FP32: 1 GRU (GRU has no int8 kernel in ONNX Runtime: only the dense parts are quantized)" \
        in int8["note"]
    assert ops(path / "model.int8.onnx")["GRU"] == 1
    report = verify(path, batch_sizes=(2,), latency=True)
    assert report["passed"], summary(report)
    [row] = [r for r in report["deployment"]["rows"] if r["variant"] == "int8"]
    assert row["size_ratio"] > 0.8 and row["fits"].startswith("none: ") and "(GRU stays FP32); ship FP32" in row["fits"]
    assert row["note"] == int8["note"]


def test_autoencoder_and_generator_variants_are_judged_on_their_tasks(with_variants):
    ae = verify(with_variants("ae-digits"), batch_sizes=(2,))
    assert ae["passed"], summary(ae)
    assert {(r["graph"], r["variant"]) for r in ae["checks"] if r.get("variant")} == {
        (g, v) for g in ("model", "encoder", "decoder") for v in ("int8", "fp16")}
    row = task_row(ae, "int8")
    assert row["metric"] == "mse" and row["change"] <= row["limits"]["max_mse_increase"] * row["fp32"]
    decoder = open_bundle(with_variants("ae-digits")).graph("decoder").variants["int8"]
    assert decoder["calibration"] == "512 inputs drawn as the manifest declares (code)"
    gan = verify(with_variants("cgan-digits"), batch_sizes=(2,))
    assert gan["passed"], summary(gan)
    row = task_row(gan, "int8")
    assert row["metric"] == "frechet_distance_pixels" and row["samples"] == 1024 and row["fp32"] > 0


def test_verify_fails_a_variant_beyond_the_family_tolerance(with_variants, tmp_path):
    copy = Path(shutil.copytree(with_variants("cnn-digits"), tmp_path / "b"))
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["graphs"][0]["variant_tolerances"]["int8"]["min_argmax_agreement"] = 1.01  # no variant can meet it
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    report = verify(copy, batch_sizes=(2,))
    assert not report["passed"] and task_row(report, "int8")["status"] == "fail"
    assert task_row(report, "fp16")["status"] == "pass"
    result = invoke_zoo("verify", str(copy), "--batch-sizes", "2")
    assert result.code == 1
    line = one_error_line(result.err)
    assert line.startswith("error: verification failed: 1 of ") and "first: model (int8)/classification task on cpu " \
        "(test split): accuracy " in line and "beyond its limits max_accuracy_drop 0.005, min_argmax_agreement 1.01" in line


def test_a_tampered_variant_is_refused_before_anything_runs(with_variants, tmp_path):
    copy = Path(shutil.copytree(with_variants("cnn-digits"), tmp_path / "b"))
    data = bytearray((copy / "model.int8.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.int8.onnx: checksum mismatch"):
        open_bundle(copy)
    manifest = json.loads((copy / bundle.MANIFEST).read_text())
    manifest["graphs"][0]["variants"]["int8"]["file"] = "../model.int8.onnx"
    (copy / bundle.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="graph 'model' int8 variant file '../model.int8.onnx' is outside the bundle"):
        open_bundle(copy)


def test_predict_runs_a_variant_without_torch(with_variants, tmp_path, without_torch):
    path = with_variants("cnn-digits")
    inputs, outputs = open_bundle(path).graph().test_vectors()
    np.save(tmp_path / "x.npy", inputs["input"])
    for variant in ("int8", "fp16"):
        result = run_zoo("predict", str(path), str(tmp_path / "x.npy"), "--variant", variant, "--raw", "--out",
                         str(tmp_path / f"{variant}.npy"), env=without_torch)
        assert result.code == 0, result.err
        got = np.load(tmp_path / f"{variant}.npy")
        assert got.shape == outputs["output"].shape and np.isfinite(got).all()
    np.testing.assert_allclose(np.load(tmp_path / "fp16.npy"), outputs["output"], atol=0.05)
    missing = invoke_zoo("predict", str(path), str(tmp_path / "x.npy"), "--variant", "bf16")
    assert missing.code == 2 and one_error_line(missing.err) == (
        f"error: {path}: graph 'model' has no bf16 variant (it has fp32, int8, fp16; zoo export --variants makes them)")


def test_export_refuses_an_unknown_variant_with_one_line(tiny_run, tmp_path):
    result = invoke_zoo("export", str(tiny_run("cnn-digits").path), "--out", str(tmp_path / "b"), "--variants", "int4")
    assert result.code == 2 and one_error_line(result.err) == "error: unknown variant 'int4' (did you mean 'int8'?)"
    assert not (tmp_path / "b").exists()


def _graph_file(path: Path, node_type: str) -> Path:
    """A one-node float graph (x -> node -> y) with a dynamic batch."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(helper.make_graph([helper.make_node(node_type, ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path))
    return path


def test_a_graph_with_nothing_to_quantize_is_refused(tmp_path):
    source = _graph_file(tmp_path / "model.onnx", "Exp")  # no quantized kernel for Exp
    batches = [{"x": np.random.default_rng(0).random((8, 4), dtype=np.float32)}]
    with pytest.raises(precision.VariantError, match="int8 variant of graph 'model': ONNX Runtime quantized no "
                                                     "operator .*leave int8 out of --variants"):
        precision.make("int8", source, tmp_path / "model.int8.onnx", batches, "8 samples", "model")


def test_census_counts_qdq_and_integer_kernels_and_the_conv_integer_trap_is_refused(tmp_path, monkeypatch):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.int8), "w")
    nodes = [helper.make_node("DequantizeLinear", ["wq", "s"], ["wf"]), helper.make_node("Conv", ["x", "wf"], ["h"]),
             helper.make_node("ConvInteger", ["h8", "w"], ["c"]), helper.make_node("GRU", ["x", "W", "R"], ["g"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], [],
                              initializer=[w, numpy_helper.from_array(np.ones(4, np.float32), "W")])
    found = precision.census(helper.make_model(graph))
    assert found["quantized_ops"] == {"Conv": 1, "ConvInteger": 1} and found["float_ops"] == {"GRU": 1}
    assert found["quantized_weight_fraction"] == round(18 / 22, 4)
    # a quantizer that produced ConvInteger (dynamic Conv) is refused: ONNX Runtime's CPU provider cannot run it
    monkeypatch.setattr(precision, "census", lambda model: {**found, "float_ops": {}})
    source = _graph_file(tmp_path / "model.onnx", "Relu")
    with pytest.raises(precision.VariantError, match="holds ConvInteger, which ONNX Runtime's CPU provider does not"):
        precision.quantize_int8(source, tmp_path / "out.onnx", [{"x": np.ones((2, 4), np.float32)}], "2", "model")


def test_verify_save_stores_the_deployment_table_and_the_card_renders_it(with_variants, tmp_path):
    from zoo.cards.writer import write_card

    copy = Path(shutil.copytree(with_variants("cnn-digits"), tmp_path / "b"))
    result = invoke_zoo("verify", str(copy), "--batch-sizes", "2", "--save")
    assert result.code == 0, result.err
    assert "VARIANT  BYTES" in result.out and "CPU_MS_B1/B64" in result.out
    stored = json.loads((copy / "card" / "verification.json").read_text())["deployment"]
    assert [r["variant"] for r in stored["rows"]] == ["fp32", "int8", "fp16"]
    assert all(set(r["latency_ms"]["cpu"]) == {"1", "64"} and r["parity"] == "pass" for r in stored["rows"])
    assert stored["provenance"]["cpu_threads"] == 1 and stored["provenance"]["measured_by"].endswith("verify --latency")
    card, _ = write_card(copy, ["md"])
    markdown = (copy / "card" / "card.md").read_text()
    section = markdown[markdown.index("## Deployment"):markdown.index("## Safety and ethical considerations")]
    for row in stored["rows"]:
        assert f"| {row['variant']} | {row['bytes']:,} bytes ({row['size_ratio']:.2f}x) |" in section
        assert row["fits"] in section
    assert "static QDQ quantization" in section and "**Signature:** not signed" in section
    # the FP32 parity table stays FP32's: an int8 variant's distance from FP32 is not a parity error
    assert card["parity"]["providers"]["cpu"]["max_abs_diff"] < 1e-4
