"""Sequences of different lengths, end to end: a .ts file of unequal-length multivariate sequences trains an
LSTM whose answers do not depend on batching, in PyTorch and in ONNX Runtime; the core carries the lengths
through training, prediction, the shift augmentation, the verifier's draws and every assessment; the published
digits models did not move."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from conftest import TINY, invoke_zoo, one_error_line
from zoo.bundle import Graph, BundleError, open_bundle, random_inputs, with_full_lengths
from zoo.data import Arrays, DataError
from zoo.graphs import LENGTHS, GraphInput, sequence_inputs
from zoo.models import build, load_trained, onnx_graphs
from zoo.recipes import mean_over_valid, random_shift
from zoo.registry import get_model
from zoo.training import TrainContext, fit, predict_batches

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("slow", "fast", "flat")
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def write_ts(path: Path, cases: int = 60, seed: int = 0) -> Path:
    """A UCR-style .ts file: two dimensions, lengths 5 to 16, three classes told apart by their frequency."""
    rng = np.random.default_rng(seed)
    lines = ["#Written by the test: waves of three frequencies, two channels, unequal lengths.",
             "@problemName Waves", "@timeStamps false", "@missing false", "@univariate false", "@dimensions 2",
             "@equalLength false", f"@classLabel true {' '.join(LABELS)}", "@data"]
    for i in range(cases):
        label = LABELS[i % 3]
        steps = np.arange(int(rng.integers(5, 17)))
        frequency = {"slow": 0.3, "fast": 1.5, "flat": 0.0}[label]
        first = np.sin(frequency * steps + rng.uniform(0, 6.28)) + 0.1 * rng.standard_normal(len(steps))
        second = 0.5 * np.cos(frequency * steps) + 0.1 * rng.standard_normal(len(steps))
        lines.append(":".join(",".join(f"{v:.4f}" for v in channel) for channel in (first, second)) + f":{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def waves(tmp_path_factory) -> Path:
    return write_ts(tmp_path_factory.mktemp("waves") / "Waves.ts")


@pytest.fixture(scope="module")
def lstm_run(waves, tmp_path_factory):
    """lstm-digits trained (tiny) on the .ts file: its spec, model, data, config and run."""
    run = zoo.train("lstm-digits", overrides={**TINY["lstm-digits"], "epochs": 4, "shift": 1}, data=waves,
                    out=tmp_path_factory.mktemp("runs") / "lstm")
    spec, model, data, config, _ = load_trained(run)
    return spec, model, data, config, run


def alone_and_together(module, x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The module's answers for each sequence alone (cut to its length) and for all of them in one padded batch."""
    with torch.no_grad():
        alone = np.concatenate([module(torch.from_numpy(x[i:i + 1, :n]), torch.from_numpy(lengths[i:i + 1])).numpy()
                                for i, n in enumerate(lengths)])
        together = module(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    return alone, together


def messy_padding(x: np.ndarray, lengths: np.ndarray, extra: int, seed: int = 1) -> np.ndarray:
    """``x`` padded ``extra`` steps longer, every padded step (old and new) filled with noise, not zeros."""
    rng = np.random.default_rng(seed)
    longer = np.concatenate([x, np.zeros((len(x), extra, x.shape[2]), x.dtype)], axis=1)
    noise = rng.normal(size=longer.shape).astype(x.dtype)
    return np.where(np.arange(longer.shape[1])[None, :, None] < lengths[:, None, None], longer, noise)


def onnx_session(graph):
    """The graph exported by the TorchScript exporter (as `zoo export` does) and opened in ONNX Runtime."""
    import onnxruntime as ort

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.module, tuple(i.example for i in graph.inputs), buffer, dynamo=False,
                          input_names=[i.name for i in graph.inputs], output_names=graph.outputs, opset_version=18,
                          dynamic_axes=graph.dynamic_axes())
    return ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])


def sequence_models(info):
    """The trained LSTM's siblings, untrained, built for the same data: every built-in sequence family."""
    found = {}
    for name, config in (("gru-digits", {"hidden_size": 8}), ("rnn-digits", {"hidden_size": 8, "num_layers": 1}),
                         ("fcn-digits-rows", {"channels": [8, 16, 8]})):
        spec = get_model(name)
        model = build(spec, {**spec.default_config, **config}, info)
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            norm.running_mean.uniform_(-0.5, 0.5)  # statistics unlike the identity, so that masking is tested
            norm.running_var.uniform_(0.5, 2.0)
        found[name] = (spec, model.eval(), {**spec.default_config, **config})
    return found


# --------------------------------------------------------------------------- answers independent of batching


def test_a_ts_file_of_unequal_multivariate_sequences_trains_an_lstm(lstm_run):
    spec, model, data, config, run = lstm_run
    assert data.info.variable_length and data.info.sample_shape == (16, 2)
    assert data.info.class_names == tuple(sorted(LABELS)), "natural order, not the header's"
    assert data.test.lengths is not None and data.test.lengths.min() < 16
    assert run.metrics()["metrics"]["accuracy"] > 0.5, "four tiny epochs beat chance (1/3) on three clear classes"
    assert zoo.evaluate(run.path) == run.metrics()["metrics"], "evaluation reads the lengths the same way again"


def test_each_sequence_answers_alike_alone_and_padded_in_pytorch_and_onnx_runtime(lstm_run):
    spec, model, data, config, _ = lstm_run
    x, lengths = data.test.x, data.test.lengths
    models = {spec.name: (spec, model, config), **sequence_models(data.info)}
    for name, (spec, module, config) in models.items():
        [graph] = onnx_graphs(spec, module, data.info, config)
        assert [i.name for i in graph.inputs] == ["input", LENGTHS], name
        assert graph.inputs[1].distribution == LENGTHS and graph.inputs[1].axis == "time"
        alone, together = alone_and_together(module, x, lengths)
        np.testing.assert_allclose(together, alone, **TOLERANCE, err_msg=f"{name}: PyTorch, alone vs batched")
        with torch.no_grad():
            messy = module(torch.from_numpy(messy_padding(x, lengths, 5)), torch.from_numpy(lengths)).numpy()
        np.testing.assert_allclose(messy, together, **TOLERANCE, err_msg=f"{name}: what the padding holds mattered")
        session = onnx_session(graph)
        run = lambda a, n: session.run(None, {"input": a, LENGTHS: n})[0]  # noqa: E731
        onnx_together = run(x, lengths)
        onnx_alone = np.concatenate([run(x[i:i + 1, :n], lengths[i:i + 1]) for i, n in enumerate(lengths)])
        np.testing.assert_allclose(onnx_together, together, **TOLERANCE, err_msg=f"{name}: ONNX Runtime vs PyTorch")
        np.testing.assert_allclose(onnx_alone, alone, **TOLERANCE, err_msg=f"{name}: ONNX Runtime, alone")
        np.testing.assert_allclose(run(messy_padding(x, lengths, 7), lengths), together, **TOLERANCE,
                                   err_msg=f"{name}: ONNX Runtime, longer noisy padding")


def test_the_recurrent_graph_packs_into_the_onnx_operators_sequence_lens(lstm_run):
    import onnx

    spec, model, data, config, _ = lstm_run
    [graph] = onnx_graphs(spec, model, data.info, config)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.module, tuple(i.example for i in graph.inputs), buffer, dynamo=False,
                          input_names=[i.name for i in graph.inputs], output_names=graph.outputs, opset_version=18,
                          dynamic_axes=graph.dynamic_axes())
    exported = onnx.load_from_string(buffer.getvalue())
    lstms = [n for n in exported.graph.node if n.op_type == "LSTM"]
    assert lstms and all(len(n.input) > 4 and n.input[4] for n in lstms), "sequence_lens is wired to every LSTM"
    shapes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in exported.graph.input}
    assert shapes == {"input": ["batch", "time", 2], LENGTHS: ["batch"]}


def test_zoo_export_verify_and_predict_take_the_lengths_input(lstm_run, tmp_path):
    """The bundle's manifest declares the lengths input (with its axis); `zoo verify` draws lengths at the export
    length, at T/2 and at 2T+1 and passes, variants included; `zoo predict` feeds padded sequences with their
    lengths, and an .npy without lengths as sequences read to the end."""
    from zoo.bundle.export import export_run
    from zoo.bundle.verify import verify

    spec, model, data, config, run = lstm_run
    bundle = export_run(run.path, tmp_path / "bundle", variants="fp32,int8")
    [entry] = open_bundle(bundle).manifest["graphs"]
    assert entry["inputs"][1] == {"name": LENGTHS, "dtype": "int64", "shape": ["batch"], "distribution": LENGTHS,
                                  "low": 1, "high": 16, "axis": "time"}
    report = verify(bundle, batch_sizes=(1, 7))
    assert report["passed"], report
    assert {"random b=1 time=8", "random b=1 time=33"} <= {r["case"] for r in report["checks"]}
    np.savez(tmp_path / "padded.npz", input=data.test.x, lengths=data.test.lengths)
    result = invoke_zoo("predict", str(bundle), str(tmp_path / "padded.npz"), "--raw", "--out",
                        str(tmp_path / "logits.npy"))
    assert result.code == 0, result.err
    with torch.no_grad():
        want = model(torch.from_numpy(data.test.x), torch.from_numpy(data.test.lengths)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), want, **TOLERANCE)
    full = data.test.x[data.test.lengths == data.test.lengths.max()]
    np.save(tmp_path / "full.npy", full)
    assert invoke_zoo("predict", str(bundle), str(tmp_path / "full.npy"), "--raw", "--out", str(tmp_path / "f.npy")).code == 0
    with torch.no_grad():
        np.testing.assert_allclose(np.load(tmp_path / "f.npy"), model(torch.from_numpy(full)).numpy(), **TOLERANCE)
    np.savez(tmp_path / "bad.npz", input=data.test.x, lengths=data.test.lengths + 16)
    bad = invoke_zoo("predict", str(bundle), str(tmp_path / "bad.npz"))
    assert bad.code == 2 and "holds each sequence's length" in one_error_line(bad.err)


# --------------------------------------------------------------------------- the core carries the lengths


def test_training_hands_each_batch_its_lengths_and_refuses_a_step_that_takes_none():
    x = np.zeros((10, 6, 1), np.float32)
    lengths = np.arange(1, 11, dtype=np.int64) % 6 + 1
    x[np.arange(6)[None, :] < lengths[:, None]] = 1.0
    seen = []

    def step(batch, labels, lengths=None):
        seen.append((batch.sum(dim=(1, 2)).numpy(), lengths.numpy()))
        return {"loss": torch.zeros(())}

    model = torch.nn.Linear(1, 1)
    context = TrainContext(seed=0, epochs=1, batch_size=4)
    fit(context, model, {"model": torch.optim.SGD(model.parameters(), lr=0.1)},
        Arrays(x, np.zeros(10, np.int64), lengths), step)
    assert sum(len(s) for s, _ in seen) == 10
    for sums, given in seen:
        assert np.array_equal(sums, given), "each sample arrives with its own length"
    with pytest.raises(DataError, match="takes no lengths"):
        fit(context, model, {"model": torch.optim.SGD(model.parameters(), lr=0.1)},
            Arrays(x, np.zeros(10, np.int64), lengths), lambda batch, labels: {"loss": torch.zeros(())})


def test_predict_batches_cuts_lengths_with_the_batch():
    x = torch.rand(7, 5, 3)
    lengths = torch.tensor([5, 1, 2, 3, 4, 5, 2])
    whole = mean_over_valid(x, lengths, time_dim=1)
    chunked = predict_batches(lambda a, n: mean_over_valid(a, n, time_dim=1), x, batch_size=3, lengths=lengths)
    assert torch.equal(chunked, whole)
    assert torch.allclose(whole[1], x[1, 0]) and torch.allclose(whole[3], x[3, :3].mean(0))


def test_the_shift_augmentation_keeps_each_sequence_within_its_length():
    torch.manual_seed(0)
    x = torch.rand(64, 9, 2) + 1.0  # no zeros inside a sequence
    lengths = torch.randint(1, 10, (64,))
    x[torch.arange(9)[None, :] >= lengths[:, None]] = 0.0
    torch.manual_seed(1)
    plain = random_shift(x, 2)
    torch.manual_seed(1)
    shifted = random_shift(x, 2, lengths)
    padding = torch.arange(9)[None, :] >= lengths[:, None]
    assert (shifted[padding] == 0).all(), "no value moved into the padding"
    assert not (plain[padding] == 0).all(), "without lengths, values do move into it (the check can fail)"
    for row in range(64):
        n = int(lengths[row])
        kept = shifted[row, :n, 0]
        values = set(kept[kept != 0].tolist())
        assert values <= set(x[row, :n, 0].tolist()), "a sequence keeps only its own values"
        same_draw = plain[row, :n][plain[row, :n, 0] != 0]
        assert set(same_draw[:, 0].tolist()) >= values, "the same draws as without lengths"


def test_verify_draws_lengths_up_to_the_axis_with_one_full_length_sample():
    inputs = [{"name": "input", "dtype": "float32", "shape": ["batch", "time", 2], "distribution": "uniform",
               "low": 0.0, "high": 1.0},
              {"name": LENGTHS, "dtype": "int64", "shape": ["batch"], "distribution": LENGTHS, "low": 1, "high": 16,
               "axis": "time"}]
    for time in (3, 8, 33):
        drawn = random_inputs(inputs, 64, {"time": time}, seed=time)
        assert drawn["input"].shape == (64, time, 2) and drawn[LENGTHS].dtype == np.int64
        assert drawn[LENGTHS][0] == time and drawn[LENGTHS].min() >= 1 and drawn[LENGTHS].max() == time
        assert len(set(drawn[LENGTHS].tolist())) > 1 or time == 1
    graph_input = sequence_inputs((16, 2), True)[1]
    assert graph_input.draw(5, torch.Generator().manual_seed(0), length=4).tolist()[0] == 4
    assert with_full_lengths(inputs, {"input": np.zeros((3, 7, 2), np.float32)})[LENGTHS].tolist() == [7, 7, 7]
    with pytest.raises(ValueError, match="names the axis"):
        GraphInput(LENGTHS, torch.tensor([3]), distribution=LENGTHS)


def test_a_graph_refuses_lengths_outside_its_sequences(tmp_path):
    entry = {"name": "model", "inputs": [
        {"name": "input", "dtype": "float32", "shape": ["batch", "time", 2], "distribution": "uniform"},
        {"name": LENGTHS, "dtype": "int64", "shape": ["batch"], "distribution": LENGTHS, "low": 1, "axis": "time"}]}
    graph = Graph(tmp_path, entry)
    x = np.zeros((2, 5, 2), np.float32)
    assert graph.check_inputs({"input": x, LENGTHS: np.array([5, 1])})[LENGTHS].tolist() == [5, 1]
    for bad in ([6, 1], [0, 5]):
        with pytest.raises(BundleError, match="holds each sequence's length, from 1 to its 'time' axis"):
            graph.check_inputs({"input": x, LENGTHS: np.array(bad)})


def test_every_assessment_reads_the_sequences_with_their_lengths(lstm_run, tmp_path):
    """Each core assessment of a classifier runs on a model that refuses to be called without lengths, and its
    numbers agree with the evaluation that read them."""
    from zoo.assess.builtin import core_assessments
    from zoo.assess.runner import make_context

    spec, model, data, config, _ = lstm_run

    class NeedsLengths(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, lengths=None):
            assert lengths is not None and len(lengths) == len(x), "called without each sequence's length"
            return self.inner(x, lengths)

    strict = NeedsLengths(model).eval()
    ctx = make_context(spec, strict, data, config, 0.05, tmp_path)
    ctx.untrained = lambda: NeedsLengths(build(spec, config, data.info)).eval()
    results = {}
    for assessment in core_assessments(spec):
        ctx.prefix = f"{assessment.name}-"
        results[assessment.name] = assessment.measure(ctx)
    assert set(results) == {"attributions", "attribution-quality", "calibration", "robustness", "ood-detection",
                            "membership-inference"}
    accuracy = zoo.models.evaluate_model(spec, model, data, config)["accuracy"]
    assert results["calibration"].values["accuracy"] == pytest.approx(accuracy, abs=1e-6)


# --------------------------------------------------------------------------- the published models did not move


@pytest.mark.parametrize("name", ["lstm-digits", "gru-digits", "rnn-digits"])
def test_published_recurrent_models_answer_as_they_did_to_the_last_bit(name):
    """The committed bundles' stored PyTorch outputs were computed before lengths existed; the published weights
    load strictly (same modules, same state_dict keys) and today's forward without lengths gives those bits."""
    bundle = open_bundle(ROOT / "exports" / name)
    model = zoo.create_model(name, pretrained=True).eval()
    inputs, outputs = bundle.graph().test_vectors()
    assert list(inputs) == ["input"], "equal-length data: the graph takes no lengths"
    with torch.no_grad():
        assert np.array_equal(model(torch.from_numpy(inputs["input"])).numpy(), outputs["output"])
    [graph] = onnx_graphs(get_model(name), model, zoo.models.dataset_info(get_model(name)), model_config(name))
    assert [i.name for i in graph.inputs] == ["input"]


def model_config(name: str) -> dict:
    return dict(get_model(name).default_config)


# --------------------------------------------------------------------------- families refuse data they cannot take


def test_image_families_refuse_sequences_in_one_line(waves):
    for name in ("cnn-digits", "gan-digits", "ae-digits"):
        result = invoke_zoo("train", name, "--data", str(waves), "--epochs", "1")
        assert result.code == 2, (name, result.err)
        assert "this model takes images" in one_error_line(result.err)
    for name in ("cnn-digits", "gan-digits", "ae-digits"):
        spec = get_model(name)
        with pytest.raises(DataError, match=r"\(N, C, H, W\)"):
            build(spec, spec.default_config, zoo.data.DataInfo("waves", "sequence", (16, 2), 3))


def test_the_cores_default_graph_reads_sequences_of_different_lengths_as_training_does(tmp_path):
    """A family that implements no zoo_onnx_graphs gets, for sequences of different lengths, a graph called
    ``model(x, lengths)`` with a dynamic time axis (exported and probed at other lengths for real); sequences of
    one length keep the fixed shape, so a flattening model still exports."""
    from zoo import defaults
    from zoo.bundle.export import AUTO, write_graph
    from zoo.data import DataInfo

    class MeanOverTime(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = torch.nn.Linear(3, 2)

        def forward(self, x, lengths):
            return self.head(mean_over_valid(x, lengths, time_dim=1))

    uneven = DataInfo("walks", "sequence", (12, 3), 2, min_length=4, max_length=12)
    [graph] = defaults.zoo_onnx_graphs(spec=None, model=MeanOverTime().eval(), info=uneven, config={})
    assert [i.name for i in graph.inputs] == ["input", LENGTHS] and graph.inputs[0].dynamic_axes == {0: "batch",
                                                                                                   1: "time"}
    entry = write_graph(graph, tmp_path, 17, AUTO)
    assert entry["inputs"][0]["shape"] == ["batch", "time", 3] and entry["inputs"][1]["name"] == LENGTHS
    even = DataInfo("rows", "sequence", (8, 8), 10)
    [fixed] = defaults.zoo_onnx_graphs(spec=None, model=torch.nn.Flatten(), info=even, config={})
    assert [i.name for i in fixed.inputs] == ["input"] and fixed.inputs[0].example.shape[1:] == (8, 8)
    assert 1 not in (fixed.inputs[0].dynamic_axes or {})
