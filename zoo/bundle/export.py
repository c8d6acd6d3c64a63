"""`zoo export`: a trained run's graphs as a checked, checksummed ONNX bundle (see zoo.bundle).

The bundle is written into a temporary folder beside the destination and renamed into place
only once every graph passed ``onnx.checker`` (full check): an interrupted export leaves
nothing at the destination. Everything the exporters print (Python warnings and C++ lines
alike) goes to the bundle's ``export.log``, never to the terminal.

``--variants`` adds reduced-precision copies of every graph (``zoo.bundle.variants``), made from
the checked FP32 file and calibrated on the run's training samples; the default is FP32 alone.

Every bundle also carries the trained PyTorch weights, so that ``zoo.create_model(name,
pretrained=True)`` needs no run and no data: ``weights.safetensors`` is the run's file copied byte
for byte, and ``config.json`` what rebuilds the network for it (model, plugin, resolved config and
the data's name, layout, sample shape and classes, with the data's SHA-256 and split sizes as
provenance). Both are in the manifest's checksums and named by its ``pytorch`` entry.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from zoo import bundle
from zoo.bundle import variants as precision
from zoo.errors import WorkFailed, ZooError, one_line
from zoo.fsutil import atomic_write_json, disk_space, is_disk_full, replace_dir, staging_dir
from zoo.graphs import EXPORTERS, LENGTHS, OnnxGraph, other_lengths
from zoo.models import inference_mode, load_trained, onnx_graphs, reference_outputs
from zoo.plugins import plugin_set
from zoo.runs import CONFIG, WEIGHTS, WEIGHTS_FORMAT, Run, open_run
from zoo.versions import versions

DEFAULT_ROOT = Path("exports")
DEFAULT_OPSET = 18
DEFAULT_EXPORTER = "torchscript"  # faster ORT graphs, dynamic RNN time axes: see benchmarks/export.py
AUTO = "auto"  # each graph: its declared exporter, else DEFAULT_EXPORTER, else the other (recorded per graph)
CHOICES = (AUTO, *EXPORTERS)


class ExportError(ZooError):
    """The export was asked for something it cannot do (an unknown exporter, a destination in the way): exit 2."""


class ExportFailed(ExportError, WorkFailed):
    """The exporter could not produce a graph that passes its own checks: the work failed, not the input
    (exit 1, in `zoo export` and `zoo publish` alike)."""


@contextlib.contextmanager
def captured_output(log: Path) -> Iterator[None]:
    """Send fds 1 and 2, sys.stdout/stderr and warnings into ``log`` (the exporters also print from C++)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a", encoding="utf-8") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle), warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: \
                    handle.write(warnings.formatwarning(message, category, filename, lineno, line))
                yield
        finally:
            try:
                handle.flush()  # may fail (a full disk): the terminal comes back all the same
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])


def export_graph(graph: OnnxGraph, path: Path, opset: int, exporter: str) -> None:
    """Write ``graph`` to ``path`` with named inputs/outputs and the graph's dynamic axes, the module as it is
    deployed (``zoo.models.inference_mode``); a dynamo graph is stripped of the metadata that names this
    machine (``zoo.bundle.machine_metadata``: stack traces with source paths) and refused if any remains."""
    args = tuple(i.example for i in graph.inputs)
    common = dict(input_names=[i.name for i in graph.inputs], output_names=list(graph.outputs), opset_version=opset)
    with inference_mode(graph.module):
        if exporter == "torchscript":
            torch.onnx.export(graph.module, args, str(path), dynamo=False, do_constant_folding=True,
                              dynamic_axes=graph.dynamic_axes(), **common)
        else:  # Dim.AUTO: an axis torch.export finds static is frozen, and `signature` says so
            shapes = tuple({axis: torch.export.Dim.AUTO for axis in i.dynamic_axes} for i in graph.inputs)
            torch.onnx.export(graph.module, args, str(path), dynamo=True, external_data=False,
                              dynamic_shapes=shapes, **common)
    if exporter == "dynamo":
        import onnx

        from zoo.bundle.machine_metadata import machine_paths, strip_machine_metadata

        model = onnx.load(str(path))
        strip_machine_metadata(model)
        left = machine_paths(model)
        if left:
            raise ExportFailed(f"graph {graph.name!r}: the {exporter} graph still names this machine ({left[0]})")
        onnx.save(model, str(path))


def _dims(value_info, requested: dict[int, str]) -> list[int | str]:
    """A tensor's shape: fixed sizes as ints, dynamic axes by their requested (or exported) name."""
    dims = value_info.type.tensor_type.shape.dim
    return [requested.get(i, d.dim_param or "?") if not d.HasField("dim_value") else int(d.dim_value)
            for i, d in enumerate(dims)]


def signature(model, graph: OnnxGraph) -> dict[str, list[dict[str, Any]]]:
    """Names, dtypes and shapes of the exported graph's inputs and outputs, checked against the request."""
    from onnx.helper import tensor_dtype_to_np_dtype

    axes = graph.dynamic_axes()

    def describe(value_info) -> dict[str, Any]:
        dtype = tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type)
        return {"name": value_info.name, "dtype": np.dtype(dtype).name, "shape": _dims(value_info, axes.get(value_info.name, {}))}

    inputs = [describe(v) for v in model.graph.input]
    outputs = [describe(v) for v in model.graph.output]
    if [i["name"] for i in inputs] != [i.name for i in graph.inputs] or [o["name"] for o in outputs] != graph.outputs:
        raise ExportFailed(f"graph {graph.name!r}: the exported inputs/outputs "
                          f"({', '.join(i['name'] for i in inputs)} -> {', '.join(o['name'] for o in outputs)}) "
                          f"are not the requested ones (an input the module ignores is dropped by the exporter)")
    for spec, requested in zip(graph.inputs, inputs):
        frozen = [axis for axis in spec.dynamic_axes if isinstance(requested["shape"][axis], int)]
        if frozen:
            raise ExportFailed(f"graph {graph.name!r}: the exporter froze dynamic axis {frozen[0]} "
                               f"({spec.dynamic_axes[frozen[0]]!r}) of input {spec.name!r} to "
                               f"{requested['shape'][frozen[0]]}")
    for spec, row in zip(graph.inputs, inputs):
        row.update(distribution=spec.distribution, low=spec.low, high=spec.high)
        bounded = {row["shape"][axis]: [low, high] for axis, (low, high) in spec.ranges.items()
                   if isinstance(row["shape"][axis], str)}
        if bounded:
            row["ranges"] = bounded  # by axis name, inclusive; None: unbounded above
        if spec.axis is not None:  # a ``lengths`` input: the axis whose length bounds it
            row["axis"] = spec.axis
    return {"inputs": inputs, "outputs": outputs}


class ModuleFailed(ExportFailed):
    """The plugin's module itself fails at a size its graph declares dynamic: no exporter can help (declare the
    axis' range, ``GraphInput.ranges``)."""


def probe(graph: OnnxGraph, path: Path) -> str | None:
    """Why the exported graph is not the module at other sizes of its dynamic axes, or None.

    Right after export, ONNX Runtime runs the graph at one more batch row and at ``other_lengths`` of every
    other dynamic axis, against the module: an exporter that froze an axis inside the graph (a Reshape to
    the export length) fails or disagrees here, where the signature still says the axis is dynamic."""
    from zoo.bundle import SessionError, open_session

    try:
        session = open_session(path, what=f"graph {graph.name!r}")
    except SessionError as exc:
        return f"ONNX Runtime cannot load it ({exc.reason})"
    for where, inputs in _probe_inputs(graph):
        try:
            want = reference_outputs(graph, inputs)
        except Exception as exc:
            raise ModuleFailed(f"graph {graph.name!r}: the module itself fails at {where} ({one_line(exc)}); "
                               f"declare the axis' range (GraphInput(ranges=...))") from None
        try:
            got = session.run(list(graph.outputs), {i.name: t.numpy() for i, t in zip(graph.inputs, inputs)})
        except Exception as exc:
            return f"ONNX Runtime fails at {where} ({_ort_failure(exc)})"
        for name, value in zip(graph.outputs, got):
            tol = graph.tolerance(name)
            if value.shape != want[name].shape or not np.allclose(value, want[name], atol=tol.atol, rtol=tol.rtol):
                return f"ONNX Runtime disagrees with PyTorch at {where} (output {name!r})"
    return None


def _ort_failure(exc: Exception) -> str:
    """ONNX Runtime's error in a few words: the operator and node that failed, where it says so."""
    import re

    found = re.search(r"running (\w+) node\. Name:'([^']*)'", str(exc))
    return f"its {found[1]} node {found[2]!r} failed" if found else one_line(exc)[:200]


def _probe_inputs(graph: OnnxGraph) -> Iterator[tuple[str, list[torch.Tensor]]]:
    """(where, inputs): the examples with one more batch row, then each dynamic axis at its other lengths (a
    ``lengths`` input kept within its axis' new length)."""
    def resized(example: torch.Tensor, axis: int, size: int) -> torch.Tensor:
        repeats = -(-size // example.shape[axis])
        return example.repeat_interleave(repeats, dim=axis).narrow(axis, 0, size).contiguous()

    def within(inputs: list[torch.Tensor], sizes: dict[str, int]) -> list[torch.Tensor]:
        return [t.clamp(max=sizes[i.axis]) if i.distribution == LENGTHS and i.axis in sizes else t
                for i, t in zip(graph.inputs, inputs)]

    examples = [i.example for i in graph.inputs]
    yield "batch+1", [resized(e, 0, e.shape[0] + 1) if 0 in i.dynamic_axes else e
                      for i, e in zip(graph.inputs, examples)]
    for spec, example in zip(graph.inputs, examples):
        for axis, name in spec.dynamic_axes.items():
            if axis == 0 or spec.distribution == LENGTHS:
                continue
            for size in other_lengths(example.shape[axis], spec.ranges.get(axis)):
                changed = [resized(e, axis, size) if axis in i.dynamic_axes else e
                           for i, e in zip(graph.inputs, examples)]
                yield f"{name}={size}", within(changed, {name: size})


def _export_checked(graph: OnnxGraph, path: Path, log: Path, opset: int, exporter: str) -> None:
    """One exporter's attempt: export, full check, the signature's axes, the probe; ExportFailed if not."""
    import onnx

    try:
        with captured_output(log):
            export_graph(graph, path, opset, exporter)
    except ZooError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise  # the caller names the bundle that did not fit
        raise ExportFailed(f"the {exporter} exporter failed on graph {graph.name!r}: {one_line(exc)}") from exc
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportFailed(f"graph {graph.name!r} fails onnx.checker: {one_line(exc)}") from None
    signature(onnx.load(str(path)), graph)  # a frozen axis in the signature is refused before probing
    with captured_output(log):
        frozen = probe(graph, path)
    if frozen:
        raise ExportFailed(f"the {exporter} exporter froze a dynamic axis of graph {graph.name!r}: {frozen}")


def choose_exporters(graph: OnnxGraph, asked: str) -> list[str]:
    """The exporters to try for ``graph``, in order: the one asked for alone, or (``auto``) the graph's
    declared one, else the default, then the other."""
    if asked != AUTO:
        return [asked]
    first = graph.exporter or DEFAULT_EXPORTER
    return [first] + [e for e in EXPORTERS if e != first]


def write_graph(graph: OnnxGraph, root: Path, opset: int, exporter: str) -> dict[str, Any]:
    """Export, fully check, probe and test-vector one graph into ``root``; return its manifest entry, which
    says which exporter made the graph and why an earlier one was not used."""
    import onnx

    path = root / f"{graph.name}.onnx"
    tried: list[str] = []
    for candidate in choose_exporters(graph, exporter):
        try:
            _export_checked(graph, path, root / bundle.LOG, opset, candidate)
            break
        except ModuleFailed:
            raise
        except ExportFailed as exc:
            path.unlink(missing_ok=True)
            tried.append(str(exc))
            if exporter != AUTO:
                other = [e for e in EXPORTERS if e != candidate]
                raise ExportFailed(f"{exc}; try --exporter {other[0]}" if other else str(exc)) from None
    else:
        raise ExportFailed("; ".join(tried))
    entry = {"name": graph.name, "role": graph.role, "file": path.name, "exporter": candidate,
             **({"exporter_note": "; ".join(tried)} if tried else {}),
             **signature(onnx.load(str(path)), graph)}
    test_data = f"{bundle.TEST_DATA}/{graph.name}.npz"
    inputs = {i.name: i.example.detach().cpu().numpy() for i in graph.inputs}
    bundle.save_arrays(root / test_data, inputs, reference_outputs(graph, [i.example for i in graph.inputs]))
    entry.update(test_data=test_data,
                 tolerances={o: graph.tolerance(o).to_dict() for o in graph.outputs},
                 deployment_tolerances={o: graph.tolerance(o, deployment=True).to_dict() for o in graph.outputs})
    return entry


def write_variants(graph: OnnxGraph, entry: dict[str, Any], root: Path, names: list[str],
                   samples: np.ndarray, lengths: np.ndarray | None = None) -> None:
    """Add each reduced-precision variant of one written graph to ``root`` and to its manifest ``entry``."""
    wanted = [v for v in names if v != precision.FP32]
    if not wanted:
        return
    batches, calibrated_on = precision.calibration(bundle.Graph(root, entry), samples, sample_lengths=lengths)
    entry["variants"], declined = {}, {}
    with captured_output(root / bundle.LOG):
        for variant in wanted:
            if variant in graph.declined_variants:
                declined[variant] = f"declined by the plugin: {graph.declined_variants[variant]}"
                continue
            dest = root / precision.file_name(graph.name, variant)
            try:
                entry["variants"][variant] = precision.make(variant, root / entry["file"], dest, batches,
                                                            calibrated_on, graph.name)
            except precision.VariantError as exc:  # a variant that cannot be made is declined, with its reason
                dest.unlink(missing_ok=True)
                declined[variant] = str(exc)
    if declined:
        entry["declined_variants"] = declined
    entry["variant_tolerances"] = {v: graph.variant_tolerance(v).to_dict() for v in entry["variants"]}


def _plugin(spec) -> dict[str, str]:
    info = next(p for p in plugin_set().plugins if p.name == spec.plugin)
    return {"name": info.name, "distribution": info.distribution, "version": info.version}


def destination(model: str, out: str | Path | None, force: bool) -> Path:
    """Where the bundle goes: ``out`` or exports/<model>/; an existing one is kept unless ``force``."""
    path = Path(out) if out is not None else DEFAULT_ROOT / model
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; choose another --out or pass --force to replace it")
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path} exists and is not a folder")
    return path


# What rebuilds the network and what a deployer feeds it; not "source" or "skipped": a user's paths
DATA_FACTS = ("name", "layout", "sample_shape", "num_classes", "class_names", "modality", "lengths", "sha256",
              "splits", "preprocessing")


def copy_weights(run: Run, root: Path) -> dict[str, str]:
    """Copy the run's weights (byte for byte) and what rebuilds their network into ``root``; returns the
    manifest's ``pytorch`` entry. No machine path is written: a bundle is shipped to other machines."""
    shutil.copyfile(run.path / WEIGHTS, root / WEIGHTS)
    record = run.record
    config = {"format": WEIGHTS_FORMAT, "model": record["model"], "family": record.get("family"),
              "task": record.get("task"), "plugin": record.get("plugin"), "config": record["config"],
              "data": {key: record["data"][key] for key in DATA_FACTS if key in record["data"]}}
    atomic_write_json(root / CONFIG, config)
    return {"weights": WEIGHTS, "config": CONFIG}


def preprocessing(record: dict[str, Any]) -> dict[str, Any]:
    """What was done to the raw data before the model saw it (``zoo.data.Data.preprocessing``), as the run
    recorded it; for a run of an earlier zoo, what its record still says (layout, shape, class names)."""
    data = record["data"]
    return data.get("preprocessing") or {"layout": data["layout"], "input_shape": data["sample_shape"],
                                         "class_names": data.get("class_names", [])}


def _run_reference(run: Path, dest: Path, shipped: bool) -> str:
    return os.path.relpath(run.resolve(), dest.resolve()) if shipped else str(run.resolve())


def export_run(run: str | Path | Run, out: str | Path | None = None, *, opset: int | None = None,
               exporter: str | None = None, force: bool = False, variants: str | list[str] | None = None,
               shipped: bool = False) -> Path:
    """Export every graph the model's family names into a bundle; returns the bundle's path.

    ``shipped`` (``zoo publish``) names the run relative to the bundle, so that a committed or served
    zoo names no path of the machine that made it; otherwise the run's absolute path, which a copy of
    the bundle on this machine still finds.

    ``variants`` (``"fp32,int8,fp16"``; default ``precision.EXPORT_DEFAULT``) adds those precisions of
    every graph beside FP32, which is always there.
    """
    opset, exporter = opset or DEFAULT_OPSET, exporter or AUTO
    if exporter not in CHOICES:
        raise ExportError(f"unknown exporter {exporter!r} (choose {', '.join(CHOICES)})")
    names = precision.parse(variants)
    run = run if isinstance(run, Run) else open_run(run)
    dest = destination(run.model, out, force)
    spec, model, data, config, run = load_trained(run)
    graphs = onnx_graphs(spec, model, data.info, config)
    tmp = staging_dir(dest)
    try:
        with disk_space(f"the bundle {dest}"):
            entries = [write_graph(g, tmp, opset, exporter) for g in graphs]
            for graph, entry in zip(graphs, entries):
                write_variants(graph, entry, tmp, names, data.train.x, data.train.lengths)
            pytorch = copy_weights(run, tmp)
            if shipped:  # the exporter's warnings quote this machine's paths (site-packages, the source tree)
                from zoo.fsutil import portable

                log = tmp / bundle.LOG
                log.write_text(portable(log.read_text(encoding="utf-8")), encoding="utf-8")
        files = bundle.checksums(tmp)
        manifest = {
            "format": bundle.FORMAT, "model": spec.name, "family": spec.family, "task": spec.task,
            "plugin": _plugin(spec), "opset": opset, "versions": versions(),
            "exporter": ", ".join(sorted({e["exporter"] for e in entries})),  # each graph's entry says its own
            "run": {"path": _run_reference(run.path, dest, shipped), "created": run.record.get("created"),
                    "weights_sha256": files[pytorch["weights"]]},  # the run's file, copied byte for byte
            "variants": names, "graphs": entries, "pytorch": pytorch, "files": files,
            # what a deployer does to raw files before the primary graph (zoo.sources reads with it), by index
            # the classes' names: data a deployer reads without torch, covered by the signature with the rest
            "preprocessing": preprocessing(run.record),
        }
        atomic_write_json(tmp / bundle.MANIFEST, manifest)
        replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
