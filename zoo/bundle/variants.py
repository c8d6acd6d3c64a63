"""Reduced-precision variants of a bundle's FP32 graphs: int8 with ONNX Runtime's quantization, fp16.

A variant is made from the FP32 ``.onnx`` file alone, with calibration arrays the caller hands in
(``zoo export`` gives training samples), so this module needs neither torch nor the run; it writes
one file and returns what the manifest says about it: how it was made and what it holds.

int8 (``onnxruntime.quantization``, after ``quant_pre_process``), by what the graph computes:

* a graph with a recurrent operator: dynamic quantization, ONNX Runtime's advice for RNNs. LSTM
  becomes ``DynamicQuantizeLSTM`` and the dense layers ``MatMulInteger``. GRU and tanh RNN have no
  int8 kernel (onnxruntime #9796), so only their dense parts are quantized: ``float_ops`` names
  what stays FP32 and ``quantized_weight_fraction`` says how little is int8.
* any other graph: static QDQ, int8 activations and weights (S8S8), per-channel weights, MinMax
  calibration on ``CALIBRATION_SAMPLES`` inputs.
* Conv is never quantized dynamically: that gives ``ConvInteger``, which the CPU provider cannot
  run (onnxruntime #6430, #12558); a result holding one is refused.

Loading is not computing: every result has its quantized operators counted (none: refused) and
is run once on CPU, where its outputs must be finite. Whether it is good enough is ``zoo verify``'s
question, on the test split, against the family's ``VariantTolerance``.

fp16 (onnxconverter-common's ``convert_float_to_float16(keep_io_types=True)``): float16 weights and
arithmetic, inputs and outputs still float32. A GPU artifact: ONNX Runtime's CPU provider runs it
through inserted casts, slower than FP32 (onnxruntime #11831); on CPU it is measured for size and
task-level agreement only.
"""
from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from zoo.errors import ZooError, did_you_mean, one_line

FP32, INT8, FP16 = "fp32", "int8", "fp16"
VARIANTS = (FP32, INT8, FP16)
EXPORT_DEFAULT = (FP32,)      # `zoo export`: a variant is a deployment choice, asked for by name
PUBLISH_DEFAULT = VARIANTS    # `zoo publish`: the card's Deployment table compares all three
CALIBRATION_SAMPLES = 512     # what design.md's trial used: cnn-digits int8 kept its test accuracy
CALIBRATION_BATCH = 64
CALIBRATION_SEED = 0

RECURRENT = ("LSTM", "GRU", "RNN")
ATTENTION_OPS = ["MatMul"]                 # dynamic int8 of a Transformer encoder: its weighted MatMuls
NO_INT8_KERNEL = ("GRU", "RNN")
DYNAMIC_OPS = ["LSTM", "MatMul", "Gemm"]   # never Conv: dynamic Conv is ConvInteger
WEIGHTED = {"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN", "Attention"}
INTEGER_KERNELS = {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
                   "QLinearConv", "QLinearMatMul", "QGemm", "QAttention", "ConvInteger"}
QUANTIZE_NODES = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
CPU_CANNOT_RUN = {"ConvInteger"}


class VariantError(ZooError):
    """A variant was asked for that zoo cannot make honestly (unknown, nothing quantized, not runnable)."""


def parse(names: str | Iterable[str] | None, default: Sequence[str] = EXPORT_DEFAULT) -> list[str]:
    """The variants asked for, in ``VARIANTS`` order, FP32 always first: ``"int8,fp16"`` -> fp32, int8, fp16."""
    if names is None:
        names = default
    if isinstance(names, str):
        names = names.split(",")
    asked = [n.strip() for n in names if n.strip()]
    for name in asked:
        if name not in VARIANTS:
            raise VariantError(did_you_mean("variant", name, list(VARIANTS)))
    return [v for v in VARIANTS if v == FP32 or v in asked]


def file_name(graph: str, variant: str) -> str:
    """``model.int8.onnx``: the variant's file beside the FP32 ``model.onnx``."""
    return f"{graph}.{variant}.onnx"


def takes_samples(spec: Mapping[str, Any], sample_shape: Sequence[int]) -> bool:
    """Whether a graph input takes the dataset's samples: float, ``(batch, *sample_shape)`` up to named axes."""
    shape = spec["shape"][1:]
    return (np.dtype(spec["dtype"]).kind == "f" and len(shape) == len(sample_shape)
            and all(isinstance(d, str) or d == n for d, n in zip(shape, sample_shape)))


def calibration(graph, samples: np.ndarray, count: int = CALIBRATION_SAMPLES,
                sample_lengths: np.ndarray | None = None) -> tuple[list[dict[str, np.ndarray]], str]:
    """Batches of calibration inputs for one graph (a ``zoo.bundle.Graph``), and a line saying what they are.

    An input that takes the dataset's samples gets ``count`` training samples (a seeded draw), and a
    ``lengths`` input beside it those samples' ``sample_lengths`` (full length where they share one);
    any other (a decoder's code, a generator's noise and labels) is drawn as the manifest says,
    at the lengths of the export's test vectors.
    """
    from zoo.bundle import lengths_inputs

    rng = np.random.default_rng(CALIBRATION_SEED)
    order = rng.permutation(len(samples))[:count]
    chosen = samples[order]
    chosen_lengths = (np.full(len(chosen), samples.shape[1], np.int64) if sample_lengths is None
                      else sample_lengths[order])
    lengths = graph.export_lengths()
    from_data = [s["name"] for s in graph.inputs if takes_samples(s, samples.shape[1:])]
    with_lengths = list(lengths_inputs(graph.inputs)) if from_data else []
    batches = []
    for start in range(0, len(chosen), CALIBRATION_BATCH):
        part = chosen[start:start + CALIBRATION_BATCH]
        drawn = graph.random_inputs(len(part), lengths, seed=CALIBRATION_SEED + start)
        batches.append({s["name"]: part.astype(s["dtype"]) if s["name"] in from_data
                        else chosen_lengths[start:start + CALIBRATION_BATCH] if s["name"] in with_lengths
                        else drawn[s["name"]] for s in graph.inputs})
    drawn_names = [s["name"] for s in graph.inputs if s["name"] not in from_data + with_lengths]
    said = [f"{len(chosen)} training samples"] if from_data else []
    said += [f"{len(chosen)} inputs drawn as the manifest declares ({', '.join(drawn_names)})"] if drawn_names else []
    return batches, " and ".join(said)


def _elements(tensor) -> int:
    return int(np.prod(tensor.dims)) if len(tensor.dims) else 1


def census(model) -> dict[str, Any]:
    """What a graph computes in which precision: quantized operators, weighted operators left in float,
    and the fraction of weight elements stored as 8-bit or 16-bit numbers.

    An operator counts as quantized when it is an integer kernel (``MatMulInteger``,
    ``DynamicQuantizeLSTM`` ...) or, in QDQ form, a weighted operator reading a ``DequantizeLinear``
    output, or any operator between ``DequantizeLinear`` and ``QuantizeLinear`` (ONNX Runtime fuses
    DequantizeLinear -> op -> QuantizeLinear into an integer kernel); a ``Shape`` reading a dequantized
    tensor is not. Scales and zero points are not weights.
    """
    from onnx import TensorProto

    nodes = list(model.graph.node)
    producer = {out: node.op_type for node in nodes for out in node.output}
    consumers: dict[str, list[str]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    weights = {t.name for t in model.graph.initializer}
    quantized, floating = Counter(), Counter()
    for node in nodes:
        if node.op_type in QUANTIZE_NODES:
            continue
        reads_int8 = any(producer.get(i) == "DequantizeLinear" for i in node.input)
        writes_int8 = all(consumers.get(o) and set(consumers[o]) == {"QuantizeLinear"} for o in node.output)
        if node.op_type in INTEGER_KERNELS or (reads_int8 and (node.op_type in WEIGHTED or writes_int8)):
            quantized[node.op_type] += 1
        elif node.op_type in WEIGHTED and any(i in weights for i in node.input):
            floating[node.op_type] += 1  # attention's MatMul of two activations holds no weight
    parameters = {n.input[k] for n in nodes if n.op_type in QUANTIZE_NODES for k in (1, 2) if len(n.input) > k}
    sizes: Counter = Counter()
    for tensor in model.graph.initializer:
        if tensor.name in parameters:
            continue
        kind = {TensorProto.INT8: "int8", TensorProto.UINT8: "int8", TensorProto.FLOAT16: "float16",
                TensorProto.FLOAT: "float32", TensorProto.INT32: "int32"}.get(tensor.data_type)
        if kind:
            sizes[kind] += _elements(tensor)
    total = sum(sizes.values()) or 1
    return {"quantized_ops": dict(sorted(quantized.items())), "float_ops": dict(sorted(floating.items())),
            "quantized_weight_fraction": round(sizes["int8"] / total, 4),
            "float16_weight_fraction": round(sizes["float16"] / total, 4)}


def _ops(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in counts.items()) or "none"


def _run_once(path: Path, feeds: Mapping[str, np.ndarray], what: str) -> None:
    """Load the variant on ONNX Runtime's CPU provider and compute once; refuse it unless outputs are finite."""
    from zoo.bundle import SessionError, open_session

    try:
        outputs = open_session(path).run(None, dict(feeds))
    except SessionError as exc:
        raise VariantError(f"{what}: ONNX Runtime's CPU provider cannot run it ({exc.reason})") from None
    except Exception as exc:
        raise VariantError(f"{what}: ONNX Runtime's CPU provider cannot run it ({one_line(exc)})") from None
    if not all(np.isfinite(o).all() for o in outputs if np.asarray(o).dtype.kind == "f"):
        raise VariantError(f"{what}: its outputs are not finite on the calibration inputs")


def quantize_int8(source: Path, dest: Path, batches: list[dict[str, np.ndarray]], calibrated_on: str,
                  graph: str) -> dict[str, Any]:
    """The int8 variant of ``source`` at ``dest``: dynamic for recurrent graphs, static QDQ otherwise."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    what = f"int8 variant of graph {graph!r}"
    ops = {n.op_type for n in onnx.load(str(source), load_external_data=False).graph.node}
    recurrent = sorted(ops & set(RECURRENT))
    attention = not recurrent and "Softmax" in ops and "MatMul" in ops and "Conv" not in ops
    dynamic_ops = DYNAMIC_OPS if recurrent else ATTENTION_OPS

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="zoo-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:  # symbolic shape inference is for transformers, and fails on some Reshapes; ONNX's suffices here
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if recurrent or attention:  # ONNX Runtime's advice for RNNs and for transformers: dynamic
                quantize_dynamic(prepared, dest, op_types_to_quantize=dynamic_ops, weight_type=QuantType.QInt8)
            else:
                quantize_static(prepared, dest, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax)
        except Exception as exc:
            raise VariantError(f"{what}: onnxruntime.quantization failed ({one_line(exc)})") from None
    found = census(onnx.load(str(dest)))
    del found["float16_weight_fraction"]
    if not found["quantized_ops"]:
        raise VariantError(f"{what}: ONNX Runtime quantized no operator (weighted operators: "
                           f"{_ops(found['float_ops'])}); leave int8 out of --variants")
    trap = sorted(CPU_CANNOT_RUN & set(found["quantized_ops"]))
    if trap:
        raise VariantError(f"{what}: holds {', '.join(trap)}, which ONNX Runtime's CPU provider does not implement")
    _run_once(dest, batches[0], what)
    if recurrent or attention:
        method = ("onnxruntime.quantization: quant_pre_process, then dynamic quantization (int8 weights, "
                  f"activations quantized at run time) of {', '.join(dynamic_ops)}")
    else:
        method = ("onnxruntime.quantization: quant_pre_process, then static QDQ quantization (int8 activations "
                  f"and per-channel int8 weights, MinMax calibration on {calibrated_on})")
    stays = [op for op in NO_INT8_KERNEL if op in found["float_ops"]]
    note = (f"int8: {_ops(found['quantized_ops'])}; {found['quantized_weight_fraction']:.1%} of the weights are int8"
            + (f"; still FP32: {_ops(found['float_ops'])}" if found["float_ops"] else ""))
    if stays:
        note += (f" ({' and '.join(stays)} {'have' if len(stays) > 1 else 'has'} no int8 kernel in ONNX Runtime: "
                 f"only the dense parts are quantized)")
    dynamic = bool(recurrent or attention)
    return {"precision": INT8, "method": method, **found, "mode": "dynamic" if dynamic else "static QDQ",
            "calibration": None if dynamic else calibrated_on, "partial": bool(found["float_ops"]), "note": note}


def convert_fp16(source: Path, dest: Path, batches: list[dict[str, np.ndarray]], graph: str) -> dict[str, Any]:
    """The fp16 variant of ``source`` at ``dest``: float16 inside, float32 at the inputs and outputs."""
    import onnx
    from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    what = f"fp16 variant of graph {graph!r}"
    from onnx import TensorProto

    model = onnx.load(str(source))
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"zoo_node_{index}"  # node_block_list names nodes
    # shape arithmetic made float (attention's 1/sqrt(head_dim) from a runtime shape): the converter types a
    # Cast(to=FLOAT)'s output float16 but leaves it casting to float32 (onnxconverter-common #320), which ONNX
    # Runtime refuses to load; such casts are kept as they are (never block the op type Cast: it never returns)
    float_casts = [n.name for n in model.graph.node if n.op_type == "Cast"
                   and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)]
    try:
        converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=float_casts)
    except Exception as exc:
        raise VariantError(f"{what}: onnxconverter-common failed ({one_line(exc)})") from None
    onnx.save(converted, str(dest))
    found = census(converted)
    if not found["float16_weight_fraction"]:
        raise VariantError(f"{what}: no weight became float16; leave fp16 out of --variants")
    _run_once(dest, batches[0], what)
    kept = sorted({n.op_type for n in converted.graph.node} & set(DEFAULT_OP_BLOCK_LIST))
    note = (f"fp16: {found['float16_weight_fraction']:.1%} of the weights are float16; inputs and outputs stay "
            f"float32 (keep_io_types)" + (f"; kept in float32: {', '.join(kept)}" if kept else "")
            + (f"; {len(float_casts)} Cast to float32 kept (shape arithmetic)" if float_casts else "")
            + "; meant for GPUs: ONNX Runtime's CPU provider runs it through inserted casts")
    return {"precision": FP16, "method": "onnxconverter-common convert_float_to_float16(keep_io_types=True)",
            "float16_weight_fraction": found["float16_weight_fraction"], "float32_ops": kept, "note": note}


def make(variant: str, source: Path, dest: Path, batches: list[dict[str, np.ndarray]], calibrated_on: str,
         graph: str) -> dict[str, Any]:
    """Write ``variant`` of the FP32 graph ``source`` to ``dest``; returns its manifest entry (``file`` relative)."""
    if variant == INT8:
        entry = quantize_int8(source, dest, batches, calibrated_on, graph)
    elif variant == FP16:
        entry = convert_fp16(source, dest, batches, graph)
    else:
        raise VariantError(did_you_mean("variant", variant, [INT8, FP16]))
    return {"file": dest.name, **entry}
