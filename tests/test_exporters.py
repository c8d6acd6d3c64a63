"""Exporters chosen for the author: real exports of a small Transformer encoder.

The TorchScript-based exporter cannot export the encoder's eval fast path and, with it off, freezes the time
axis inside attention; zoo probes every graph at other lengths right after export, falls back to dynamo,
records which exporter made it, strips dynamo's machine metadata, and computes test vectors in eval mode.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from zoo import bundle
from zoo.bundle import variants as precision
from zoo.bundle.export import ExportFailed, export_graph, write_graph
from zoo.bundle.machine_metadata import machine_paths, strip_machine_metadata
from zoo.graphs import GraphInput, OnnxGraph, other_lengths
from zoo.models import reference_outputs

STEPS, FEATURES = 8, 3


class Positional(nn.Module):
    """A learned positional table and a head, no attention: what a table shorter than 2T+1 does."""

    def __init__(self, max_len: int) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.linspace(0, 1, max_len * FEATURES).reshape(max_len, FEATURES))
        self.head = nn.Linear(FEATURES, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((x + self.position[: x.shape[1]]).mean(dim=1))


class Encoder(nn.Module):
    """The plugin's network in miniature: embed, learned positions, one encoder layer, mean, head."""

    def __init__(self, max_len: int = 64) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Linear(FEATURES, 8)
        self.position = nn.Parameter(torch.randn(max_len, 8) * 0.1)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True), 1,
                                             enable_nested_tensor=False)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x) + self.position[: x.shape[1]]).mean(dim=1))


def graph(module: nn.Module, **changes) -> OnnxGraph:
    example = torch.rand(2, STEPS, FEATURES, generator=torch.Generator().manual_seed(0))
    spec = GraphInput("input", example, dynamic_axes={0: "batch", 1: "time"}, **changes)
    return OnnxGraph("model", module, [spec], ["output"])


def run(path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The encoder written by zoo with no exporter named (auto), from a module left in training mode."""
    root = tmp_path_factory.mktemp("encoder")
    module = Encoder().train()
    entry = write_graph(graph(module), root, 18, "auto")
    return root, entry, module


def test_torchscript_freezes_time_inside_attention_and_auto_falls_back_to_dynamo(written):
    root, entry, module = written
    assert entry["exporter"] == "dynamo"
    assert "the torchscript exporter froze a dynamic axis of graph 'model': ONNX Runtime fails at time=4" \
        in entry["exporter_note"] and "Reshape node" in entry["exporter_note"]
    assert entry["inputs"][0]["shape"] == ["batch", "time", FEATURES]
    for steps in (1, 4, 17, 33):  # the dynamo graph runs at every length, and agrees with PyTorch
        x = np.random.default_rng(steps).random((3, steps, FEATURES), dtype=np.float32)
        with torch.no_grad():
            want = module.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(run(root / "model.onnx", x), want, atol=1e-5, rtol=1e-4)
    module.train()


def test_naming_torchscript_fails_in_one_line_that_names_the_way_out(tmp_path):
    fast = torch.backends.mha.get_fastpath_enabled()
    with pytest.raises(ExportFailed) as caught:
        write_graph(graph(Encoder()), tmp_path, 18, "torchscript")
    assert str(caught.value).endswith("; try --exporter dynamo") and "\n" not in str(caught.value)
    assert "froze a dynamic axis" in str(caught.value)
    assert not (tmp_path / "model.onnx").exists()
    assert torch.backends.mha.get_fastpath_enabled() == fast  # the global switch is restored


def test_the_eval_fast_path_is_what_torchscript_cannot_export(tmp_path):
    module = Encoder().eval()
    with torch.no_grad(), pytest.raises(Exception, match="_transformer_encoder_layer_fwd"):
        torch.onnx.export(module, (graph(module).inputs[0].example,), str(tmp_path / "m.onnx"), dynamo=False)
    export_graph(graph(module), tmp_path / "m.onnx", 18, "torchscript")  # zoo turns the fast path off
    onnx.checker.check_model(str(tmp_path / "m.onnx"), full_check=True)


def test_a_module_in_training_mode_gives_eval_test_vectors_and_is_handed_back_as_it_was(written):
    root, entry, module = written
    assert module.training and module.encoder.layers[0].dropout.training  # restored after export
    inputs, outputs = bundle.Graph(root, entry).test_vectors()
    with torch.no_grad():
        train_mode = module(torch.from_numpy(inputs["input"])).numpy()
        eval_mode = module.eval()(torch.from_numpy(inputs["input"])).numpy()
    module.train()
    assert np.abs(train_mode - eval_mode).max() > 1e-3  # dropout 0.5 would have corrupted them
    np.testing.assert_allclose(outputs["output"], eval_mode, atol=1e-6)  # eval fast path vs the plain one
    np.testing.assert_allclose(run(root / "model.onnx", inputs["input"]), eval_mode, atol=1e-5, rtol=1e-4)


def test_dynamo_graphs_name_no_path_of_this_machine_and_stripping_changes_no_output(written, tmp_path):
    root, _, _ = written
    assert machine_paths(onnx.load(str(root / "model.onnx"))) == []
    module = Positional(max_len=64).eval()
    with torch.no_grad():  # the exporter's own file, as torch writes it
        torch.onnx.export(module, (graph(module).inputs[0].example,), str(tmp_path / "raw.onnx"), dynamo=True,
                          external_data=False, input_names=["input"], output_names=["output"],
                          dynamic_shapes=({0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO},))
    raw = onnx.load(str(tmp_path / "raw.onnx"))
    found = machine_paths(raw)
    assert any(__file__ in hit for hit in found), found  # the stack traces quote this test's own path
    before = raw.ByteSize()
    removed = strip_machine_metadata(raw)
    assert removed["metadata_props"] > 0 and machine_paths(raw) == []
    assert raw.ByteSize() < 0.8 * before
    onnx.checker.check_model(raw, full_check=True)
    onnx.save(raw, str(tmp_path / "stripped.onnx"))
    x = np.random.default_rng(0).random((5, 11, FEATURES), dtype=np.float32)
    np.testing.assert_array_equal(run(tmp_path / "stripped.onnx", x), run(tmp_path / "raw.onnx", x))


def test_the_scan_does_not_mistake_torchscript_node_names_for_paths(tmp_path):
    export_graph(graph(Encoder()), tmp_path / "m.onnx", 18, "torchscript")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert any(n.name.startswith("/encoder/layers.0/") for n in model.graph.node)
    assert machine_paths(model) == []


def test_fp16_keeps_casts_to_float32_so_onnx_runtime_loads_the_torchscript_graph(tmp_path):
    from onnxconverter_common.float16 import convert_float_to_float16

    source = tmp_path / "m.onnx"
    export_graph(graph(Encoder()), source, 18, "torchscript")  # 1/sqrt(head_dim) from a runtime shape
    onnx.save(convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(tmp_path / "plain.onnx"))
    with pytest.raises(Exception, match=r"tensor\(float16\).*does not match expected type \(tensor\(float\)\)"):
        ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((4, STEPS, FEATURES), dtype=np.float32)
    entry = precision.make("fp16", source, tmp_path / "m.fp16.onnx", [{"input": x}], "", "model")
    assert "Cast to float32 kept" in entry["note"]
    np.testing.assert_allclose(run(tmp_path / "m.fp16.onnx", x), run(source, x), atol=2e-2)


def test_int8_of_attention_is_dynamic_matmul_and_counts_no_weightless_matmul_as_left_in_fp32(written, tmp_path):
    root, entry, _ = written
    x = np.random.default_rng(0).random((16, STEPS, FEATURES), dtype=np.float32)
    made = precision.make("int8", root / entry["file"], tmp_path / "m.int8.onnx", [{"input": x}], "", "model")
    assert made["mode"] == "dynamic" and made["quantized_ops"].get("MatMulInteger")
    assert "MatMul" not in made["float_ops"]  # attention's two activation products hold no weight
    assert np.argmax(run(tmp_path / "m.int8.onnx", x), 1).shape == (16,)


def test_a_declared_range_bounds_the_lengths_checked_and_is_recorded(tmp_path):
    from zoo.bundle.verify import cases

    assert other_lengths(8) == [4, 17] and other_lengths(8, (1, 12)) == [4, 12] and other_lengths(8, (8, 8)) == []
    short = Positional(max_len=12)  # its table has 12 rows: 2T+1 = 17 steps cannot run
    with pytest.raises(ExportFailed, match=r"the module itself fails at time=17 .*declare the axis' range"):
        write_graph(graph(short), tmp_path, 18, "auto")
    entry = write_graph(graph(short, ranges={1: (1, 12)}), tmp_path, 18, "auto")
    assert entry["exporter"] == "torchscript"
    assert entry["inputs"][0]["ranges"] == {"time": [1, 12]}
    labels = [label for label, _, _ in cases(bundle.Graph(tmp_path, entry), [1])]
    assert labels == ["test vectors", "random b=1", "random b=1 time=4", "random b=1 time=12"]


def test_verify_turns_a_graph_that_fails_at_another_length_into_failed_checks_with_variants(tmp_path):
    """The FP32 graph frozen at the export length (as TorchScript writes it) with an fp16 variant: every
    case still runs, the failures are rows with their reason, never an exception."""
    from zoo.bundle.export import signature
    from zoo.bundle.verify import Mode, open_session, variant_checks

    frozen = graph(Encoder())
    export_graph(frozen, tmp_path / "model.onnx", 18, "torchscript")
    entry = {"name": "model", "role": "primary", "file": "model.onnx", "test_data": "test_data/model.npz",
             **signature(onnx.load(str(tmp_path / "model.onnx")), frozen)}
    x = frozen.inputs[0].example
    bundle.save_arrays(tmp_path / entry["test_data"], {"input": x.numpy()}, reference_outputs(frozen, [x]))
    entry["variants"] = {"fp16": precision.make("fp16", tmp_path / "model.onnx", tmp_path / "model.fp16.onnx",
                                                [{"input": x.numpy()}], "", "model")}
    opened = bundle.Bundle(tmp_path, {"task": "classification", "graphs": [entry]})
    cpu = [Mode("cpu", "CPUExecutionProvider")]
    sessions = {("model", "fp16", "cpu"): open_session(opened.graph().variant("fp16"), cpu[0])}
    rows = variant_checks(opened, cpu, sessions, [1], {})
    by_case = {r["case"]: r for r in rows}
    assert by_case["test vectors"]["status"] == "pass"
    assert by_case["random b=1 time=4"]["status"] == "fail"
    assert "no FP32 reference (onnxruntime failed" in by_case["random b=1 time=4"]["reason"]
    assert json.dumps(rows)  # the report stays JSON


def test_no_published_graph_names_a_path_of_the_machine_that_exported_it():
    """Every ONNX file the repository ships (FP32 and variants of every model), scanned for absolute paths."""
    from pathlib import Path

    graphs = sorted((Path(__file__).resolve().parents[1] / "exports").glob("*/*.onnx"))
    assert len(graphs) >= 27, "three files per published model at least"
    found = {f"{g.parent.name}/{g.name}": machine_paths(onnx.load(str(g))) for g in graphs}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_verify_turns_a_pytorch_module_that_raises_into_failed_checks_with_the_reason(written):
    """The reference network raising on an input (a plugin's module with a bug at other batch sizes): those
    cases are failed rows naming the PyTorch module and its error; the stored test vectors still pass."""
    from zoo.bundle.verify import Mode, TorchReference, graph_checks, open_session

    class FailsBeyondTwo(nn.Module):
        def forward(self, x):
            if x.shape[0] > 2:
                raise RuntimeError("index 2 is out of bounds for dimension 0 with size 2")
            return x.mean(1)[:, :4]

    root, entry, _ = written
    opened = bundle.Bundle(root, {"task": "classification", "graphs": [{**entry, "role": "primary"}]})
    cpu = Mode("cpu", "CPUExecutionProvider")
    reference = object.__new__(TorchReference)  # what a run gives verify: the family's graphs, here a raising one
    reference.graphs = {"model": graph(FailsBeyondTwo())}
    rows = graph_checks(opened.graph(), [cpu], {("model", "cpu"): open_session(opened.graph(), cpu)}, reference,
                        "pytorch", [7])
    by_case = {r["case"]: r for r in rows}
    assert by_case["test vectors"]["status"] == "pass"
    failed = [r for r in rows if r["status"] == "fail"]
    assert failed and all(r["reason"] == "the PyTorch module failed: RuntimeError: index 2 is out of bounds for "
                                         "dimension 0 with size 2" for r in failed), [r["reason"] for r in failed]
    assert json.dumps(rows)
