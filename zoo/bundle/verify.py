"""`zoo verify`: how far ONNX Runtime's answers are from PyTorch's, per graph, output, provider and batch.

Order of work: checksums first (nothing is loaded from a tampered bundle), then, on every
requested execution provider, the stored test vectors, fresh random inputs at each batch size
(and other lengths of any non-batch dynamic axis), the same inputs through PyTorch when the
run's weights are at hand, and the providers against each other. Last, the task-level effect
on the dataset's test split, which is what a deployer cares about.

Variants (``int8``, ``fp16``) are checked against the FP32 graph on ONNX Runtime CPU, not against
PyTorch: per provider, every case runs and gives finite outputs of the right shape (the numeric
error is recorded, not judged: int8 is not meant to match elementwise), and on the test split the
primary graph's variant keeps the task within the family's ``VariantTolerance`` (accuracy drop and
argmax agreement, reconstruction-MSE increase, or the increase of the Frechet distance of generated
images to the test images, on pixels). ``latency=True`` also times every variant for the card's
Deployment table (``zoo.bundle.deployment``). With ``public_key`` the bundle's signature is checked
before anything else (``zoo.bundle.signing``).

Every tolerance failure is a failure. A provider that is not installed in this onnxruntime,
or whose session silently fell back to CPU (the GPU build on a machine without a usable GPU),
is ``skipped: <why>``, never passed. A provider that is installed but cannot start a session
on a graph is a failure, its reason in the report: the CPU provider is always installed, so a
graph that ONNX Runtime will not load fails (it does not skip). A report passes only when at
least one check ran and none failed (and every ``--require``'d provider ran): a report in which
nothing ran is not a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnxruntime as ort

from zoo.bundle import VERIFICATION, Bundle, Graph, SessionError, open_bundle, sample_feeds
from zoo.errors import CheckFailed, ZooError, one_line
from zoo.fsutil import atomic_write_json, portable
from zoo.graphs import other_lengths

TASK_SAMPLES = 256            # generated images compared for a generator
FRECHET_SAMPLES = 1024        # generated images per variant for the Frechet distance to the test images
FP32_CPU = "onnxruntime fp32 cpu"  # what a variant is compared with
VARIANT_LIMITS = {"classification": ("max_accuracy_drop", "min_argmax_agreement"),  # the VariantTolerance
                  "reconstruction": ("max_mse_increase",), "generation": ("max_frechet_increase",)}  # fields per task
MIN_ARGMAX_AGREEMENT = 0.99   # classifiers: fraction of test samples with the same predicted class
MAX_ACCURACY_DELTA = 0.005    # classifiers: |accuracy(onnx) - accuracy(pytorch)|
MAX_MSE_DELTA_RATIO = 0.01    # autoencoders: |mse(onnx) - mse(pytorch)| / mse(pytorch)


class VerificationFailed(CheckFailed):
    """At least one required check failed: exit status 1."""


@dataclass(frozen=True)
class Mode:
    """One way of running a graph: an execution provider, its options, and which tolerances apply."""

    name: str
    provider: str
    options: dict[str, Any] = field(default_factory=dict)
    deployment: bool = False
    tf32: bool | None = None


def modes(providers: Sequence[str]) -> list[Mode]:
    """CPU in FP32; CUDA twice: strict (TF32 off, FP32 tolerances) and the deployment default (TF32 on)."""
    found = []
    for name in providers:
        if name == "cpu":
            found.append(Mode("cpu", "CPUExecutionProvider"))
        elif name == "cuda":
            found += [Mode("cuda-strict", "CUDAExecutionProvider", {"device_id": 0, "use_tf32": 0}, False, False),
                      Mode("cuda-tf32", "CUDAExecutionProvider", {"device_id": 0, "use_tf32": 1}, True, True)]
        else:
            raise ZooError(f"unknown provider {name!r} (choose from cpu, cuda)")
    return found


def open_session(graph: Graph, mode: Mode) -> tuple[ort.InferenceSession | None, str]:
    """A session on exactly ``mode.provider``, or None and why not.

    The note is ``ran on <provider>``, ``skipped: <why>`` (not installed, fell back to CPU) or
    ``failed: <why>`` (installed, but the session could not start on this graph).
    """
    try:
        return graph.session(mode.provider, mode.options), f"ran on {mode.provider}"
    except SessionError as exc:
        if exc.skipped:
            return None, f"skipped: {exc.reason}"
        return None, f"failed: {mode.provider} could not load graph {graph.name!r} ({exc.reason})"


class CaseFailed(Exception):
    """One case could not be computed (ONNX Runtime or the plugin's module raised on it): the case's rows
    fail with this reason; the other cases, graphs and providers still run."""


def run_session(session: ort.InferenceSession, graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The graph's outputs on ``session``; any ONNX Runtime error is the case's failure, never a traceback."""
    try:
        return graph.run(session, inputs)
    except Exception as exc:  # e.g. a graph that froze an axis rejects other lengths
        raise CaseFailed(f"onnxruntime failed: {one_line(exc)}") from None


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> dict[str, Any]:
    """Max absolute and relative error, the smallest atol that passes at this rtol, and pass/fail."""
    if actual.shape != expected.shape:
        return {"max_abs": None, "max_rel": None, "needed_atol": None, "atol": atol, "rtol": rtol,
                "status": "fail", "reason": f"shape {actual.shape}, expected {expected.shape}"}
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    diff = np.where(np.isnan(a) & np.isnan(e), 0.0, np.abs(a - e))
    diff = np.nan_to_num(diff, nan=np.inf)
    scale = np.abs(np.nan_to_num(e))
    max_abs = float(diff.max(initial=0.0))
    max_rel = float((diff / np.maximum(scale, np.finfo(np.float64).tiny)).max(initial=0.0))
    needed = float(np.maximum(diff - rtol * scale, 0.0).max(initial=0.0))
    return {"max_abs": max_abs, "max_rel": max_rel, "needed_atol": needed, "atol": atol, "rtol": rtol,
            "status": "pass" if needed <= atol else "fail"}


def cases(graph: Graph, batch_sizes: Sequence[int]) -> list[tuple[str, dict[str, np.ndarray], dict | None]]:
    """(label, inputs, stored PyTorch outputs or None) for the test vectors and the random inputs."""
    stored_in, stored_out = graph.test_vectors()
    lengths = graph.export_lengths(stored_in)
    found = [("test vectors", graph.check_inputs(stored_in), stored_out)]
    found += [(f"random b={b}", graph.random_inputs(b, lengths, seed=b), None) for b in batch_sizes]
    for axis, length in lengths.items():  # half the export length and twice it plus one, inside the declared range
        low, high = graph.axis_range(axis)
        for other in other_lengths(length, (low, None if high == float("inf") else high)):
            label = f"random b={batch_sizes[0]} {axis}={other}"
            found.append((label, graph.random_inputs(batch_sizes[0], {**lengths, axis: other}, seed=other), None))
    return found


class TorchReference:
    """The run's PyTorch graphs and test data, when the run the bundle came from is at hand."""

    def __init__(self, bundle: Bundle) -> None:
        from zoo.fsutil import sha256_file
        from zoo.models import load_trained, onnx_graphs
        from zoo.runs import WEIGHTS, open_run

        run = open_run(bundle.run_path())
        self.run_path = run.path
        if sha256_file(run.path / WEIGHTS) != bundle.manifest["run"]["weights_sha256"]:
            raise ZooError(f"the weights of {run.path} changed since export")
        spec, model, self.data, config, _ = load_trained(run)
        self.graphs = {g.name: g for g in onnx_graphs(spec, model, self.data.info, config)}

    def outputs(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """PyTorch's answers; the plugin's module raising on an input (a positional table shorter than the
        length tried) is that case's failure, with the reason."""
        import torch

        from zoo.models import reference_outputs

        graph = self.graphs[name]
        try:
            return reference_outputs(graph, [torch.from_numpy(inputs[i.name]) for i in graph.inputs])
        except Exception as exc:
            raise CaseFailed(f"the PyTorch module failed: {one_line(exc)}") from None


def load_reference(bundle: Bundle) -> tuple[TorchReference | None, str]:
    try:
        from zoo.runs import run_id

        reference = TorchReference(bundle)
        return reference, f"pytorch (run {run_id(reference.run_path)})"
    except ZooError as exc:
        return None, f"skipped: {exc}"


def status_of(note: str) -> str:
    """A session note's row status: ``fail`` for a provider that failed to start, else ``skipped``."""
    return "fail" if note.startswith("failed:") else "skipped"


def _skip_rows(graph: Graph, mode: Mode, label: str, reference: str, reason: str,
               status: str = "skipped") -> list[dict[str, Any]]:
    return [{"graph": graph.name, "output": o, "provider": mode.name, "case": label, "reference": reference,
             "tf32": mode.tf32, "status": status, "reason": reason.removeprefix("failed: ")}
            for o in graph.output_names]


def graph_checks(graph: Graph, mode_list: list[Mode], sessions: dict, reference: TorchReference | None,
                 reference_note: str, batch_sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Every case of one graph on every mode: against PyTorch (stored or live) and against ORT CPU."""
    rows = []
    for label, inputs, stored in cases(graph, batch_sizes):
        ref_name = "pytorch (stored)" if stored is not None else "pytorch"
        try:
            expected = stored if stored is not None else reference.outputs(graph.name, inputs) if reference else None
        except CaseFailed as exc:
            rows += [row for mode in mode_list for row in _skip_rows(graph, mode, label, ref_name, str(exc), "fail")]
            continue
        cpu_out = None
        for mode in mode_list:
            session, note = sessions[(graph.name, mode.name)]
            if session is None:
                rows += _skip_rows(graph, mode, label, ref_name, note, status_of(note))
                continue
            try:
                got = run_session(session, graph, inputs)
            except CaseFailed as exc:
                rows += _skip_rows(graph, mode, label, ref_name, str(exc), "fail")
                continue
            targets = [(ref_name, expected)] if expected is not None else []
            if mode.name == "cpu":
                cpu_out = got
            elif cpu_out is not None:
                targets.append(("onnxruntime cpu", cpu_out))
            if expected is None:
                rows += _skip_rows(graph, mode, label, "pytorch", reference_note)
            for ref, want in targets:
                for output in graph.output_names:
                    atol, rtol = graph.tolerance(output, mode.deployment)
                    rows.append({"graph": graph.name, "output": output, "provider": mode.name, "case": label,
                                 "reference": ref, "tf32": mode.tf32,
                                 **compare(got[output], want[output], atol, rtol)})
    return rows


def task_checks(bundle: Bundle, mode_list: list[Mode], sessions: dict, reference: TorchReference | None,
                reference_note: str) -> list[dict[str, Any]]:
    """The task-level effect of running ONNX instead of PyTorch on the test split (or seeded noise)."""
    task = bundle.manifest["task"]
    graph = bundle.graph()
    rows = []
    for mode in mode_list:
        session, note = sessions[(graph.name, mode.name)]
        row = {"task": task, "graph": graph.name, "provider": mode.name, "tf32": mode.tf32}
        if session is None:
            rows.append({**row, "status": status_of(note), "reason": note.removeprefix("failed: ")})
            continue
        if reference is None:
            rows.append({**row, "status": "skipped", "reason": reference_note})
            continue
        try:
            if task == "generation":
                inputs = graph.random_inputs(TASK_SAMPLES, {}, seed=0)
                want, got = reference.outputs(graph.name, inputs), run_session(session, graph, inputs)
                output = graph.output_names[0]
                result = compare(got[output], want[output], *graph.tolerance(output, mode.deployment))
                rows.append({**row, "samples": TASK_SAMPLES, "max_abs_diff": result["max_abs"],
                             "status": result["status"]})
                continue
            feeds = sample_feeds(graph.inputs, reference.data.test.x, reference.data.test.lengths)
            want = reference.outputs(graph.name, feeds)[graph.output_names[0]]
            got = run_session(session, graph, feeds)[graph.output_names[0]]
        except CaseFailed as exc:
            rows.append({**row, "status": "fail", "reason": str(exc)})
            continue
        x = reference.data.test.x
        rows.append({**row, **(_classification(want, got, reference.data.test.y) if task == "classification"
                               else _reconstruction(want, got, x))})
    return rows


def _classification(want: np.ndarray, got: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    torch_acc, onnx_acc = float((want.argmax(1) == y).mean()), float((got.argmax(1) == y).mean())
    agreement = float((want.argmax(1) == got.argmax(1)).mean())
    ok = agreement >= MIN_ARGMAX_AGREEMENT and abs(onnx_acc - torch_acc) <= MAX_ACCURACY_DELTA
    return {"samples": len(y), "argmax_agreement": agreement, "accuracy_pytorch": torch_acc,
            "accuracy_onnx": onnx_acc, "accuracy_delta": onnx_acc - torch_acc, "status": "pass" if ok else "fail"}


def _reconstruction(want: np.ndarray, got: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    torch_mse, onnx_mse = float(((want - x) ** 2).mean()), float(((got - x) ** 2).mean())
    ok = abs(onnx_mse - torch_mse) <= MAX_MSE_DELTA_RATIO * torch_mse
    return {"samples": len(x), "mse_pytorch": torch_mse, "mse_onnx": onnx_mse, "mse_delta": onnx_mse - torch_mse,
            "status": "pass" if ok else "fail"}


def _fp32_cpu(graph: Graph, cache: dict) -> tuple[ort.InferenceSession | None, str]:
    """The FP32 graph on ONNX Runtime CPU, the reference its variants are compared with (or None and why)."""
    if graph.name not in cache:
        cache[graph.name] = open_session(graph, Mode("cpu", "CPUExecutionProvider"))
    return cache[graph.name]


def _numeric(got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    """A variant's distance from FP32: recorded, not judged; only a wrong shape or a non-finite output fails."""
    if got.shape != want.shape:
        return {"max_abs": None, "mean_abs": None, "status": "fail", "reason": f"shape {got.shape}, expected {want.shape}"}
    if got.dtype.kind == "f" and not np.isfinite(got).all():
        return {"max_abs": None, "mean_abs": None, "status": "fail", "reason": "non-finite outputs"}
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return {"max_abs": float(diff.max(initial=0.0)), "mean_abs": float(diff.mean()) if diff.size else 0.0,
            "status": "pass"}


def variant_checks(bundle: Bundle, mode_list: list[Mode], sessions: dict, batch_sizes: Sequence[int],
                   fp32_sessions: dict) -> list[dict[str, Any]]:
    """Every case of every variant of every graph, on every mode, against the FP32 graph on CPU."""
    rows = []
    for graph in bundle.graphs:
        fp32, fp32_note = _fp32_cpu(graph, fp32_sessions)
        for variant in graph.variants:
            for label, inputs, _ in cases(graph, batch_sizes):
                try:
                    want, why = (run_session(fp32, graph, inputs) if fp32 is not None else None), fp32_note
                except CaseFailed as exc:
                    want, why = None, f"failed: {exc}"
                for mode in mode_list:
                    base = {"graph": graph.name, "variant": variant, "provider": mode.name, "case": label,
                            "reference": FP32_CPU, "tf32": mode.tf32}
                    session, note = sessions[(graph.name, variant, mode.name)]
                    if want is None:
                        session, note = None, f"failed: no FP32 reference ({why.removeprefix('failed: ')})"
                    if session is None:
                        rows += [{**base, "output": o, "status": status_of(note), "reason": note.removeprefix("failed: ")}
                                 for o in graph.output_names]
                        continue
                    try:
                        got = run_session(session, graph, inputs)
                    except CaseFailed as exc:
                        rows += [{**base, "output": o, "status": "fail", "reason": str(exc)}
                                 for o in graph.output_names]
                        continue
                    rows += [{**base, "output": o, **_numeric(got[o], want[o])} for o in graph.output_names]
    return rows


def task_metric(task: str, graph: Graph, session: ort.InferenceSession, data: Any) -> tuple[str, float, np.ndarray]:
    """The task's own measure of one graph on the test split: (name, value, the outputs it came from).

    Classifiers: accuracy. Autoencoders: reconstruction MSE. Generators: the Frechet distance between
    ``FRECHET_SAMPLES`` images generated from seeded inputs and the test images, on pixels (the
    family's own Frechet distance uses its reference classifier's features, which the core does not
    have: the two are not on one scale).
    """
    from zoo.metrics import frechet_distance

    if task == "generation":
        images = run_session(session, graph, graph.random_inputs(FRECHET_SAMPLES, {}, seed=0))
        images = images[graph.output_names[0]]
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
        return "frechet_distance_pixels", frechet_distance(flat(images), flat(data.test.x)), images
    x = data.test.x
    out = run_session(session, graph, sample_feeds(graph.inputs, x, data.test.lengths))[graph.output_names[0]]
    if task == "classification":
        return "accuracy", float((out.argmax(1) == data.test.y).mean()), out
    return "mse", float(((out.astype(np.float64) - x) ** 2).mean()), out


def _judge(task: str, fp32: float, value: float, agreement: float | None, limits: dict[str, float]) -> bool:
    """Whether a variant's task metric stays within the family's ``VariantTolerance``."""
    if task == "classification":
        return fp32 - value <= limits["max_accuracy_drop"] + 1e-12 and agreement >= limits["min_argmax_agreement"]
    [increase] = limits.values()  # relative: MSE or Frechet distance may grow by this fraction of FP32's
    return value - fp32 <= increase * abs(fp32) + 1e-12


def variant_task_checks(bundle: Bundle, mode_list: list[Mode], sessions: dict, reference: TorchReference | None,
                        reference_note: str, fp32_sessions: dict) -> list[dict[str, Any]]:
    """Each variant of the primary graph against FP32 on the test split, judged by the family's tolerances."""
    task, graph = bundle.manifest["task"], bundle.graph()
    rows = []
    fp32 = None
    keys = VARIANT_LIMITS.get(task, VARIANT_LIMITS["reconstruction"])  # task_checks' rule: else reconstruction
    for variant in graph.variants:
        limits = {k: v for k, v in graph.variant_tolerance(variant).items() if k in keys}
        for mode in mode_list:
            session, note = sessions[(graph.name, variant, mode.name)]
            row = {"task": task, "graph": graph.name, "variant": variant, "provider": mode.name, "tf32": mode.tf32}
            reference_session, reference_note_cpu = _fp32_cpu(graph, fp32_sessions)
            if reference_session is None:
                session, note = None, f"failed: no FP32 reference ({reference_note_cpu.removeprefix('failed: ')})"
            if session is None or reference is None:
                why = note if session is None else reference_note
                rows.append({**row, "status": status_of(why) if session is None else "skipped",
                             "reason": why.removeprefix("failed: ")})
                continue
            try:
                if fp32 is None:
                    fp32 = task_metric(task, graph, reference_session, reference.data)
                name, value, out = task_metric(task, graph.variant(variant), session, reference.data)
            except CaseFailed as exc:
                rows.append({**row, "status": "fail", "reason": str(exc)})
                continue
            agreement = float((out.argmax(1) == fp32[2].argmax(1)).mean()) if task == "classification" else None
            rows.append({**row, "reference": FP32_CPU, "samples": len(out), "metric": name, "fp32": fp32[1],
                         "value": value, "change": value - fp32[1],
                         **({"argmax_agreement": agreement} if agreement is not None else {}),
                         "limits": limits, "status": "pass" if _judge(task, fp32[1], value, agreement, limits) else "fail"})
    return rows


def verify(path: str | Path, providers: Sequence[str] = ("cpu",), batch_sizes: Sequence[int] = (1, 7, 64),
           require: Sequence[str] = (), tolerance: tuple[float | None, float | None] = (None, None),
           public_key: str | Path | None = None, latency: bool = False, key: Any = None) -> dict[str, Any]:
    """Check a bundle and return the report; ``report['passed']`` is True only if every required check passed.

    ``tolerance`` (atol, rtol) overrides the bundle's declared tolerances for every output (FP32).
    ``public_key``: check the bundle's signature first (``SignatureError``, exit 2, on any mismatch).
    ``latency``: also measure the Deployment table (``report['deployment']``).
    ``key``: a recipient's private key for an encrypted bundle (its payload decrypted in memory only).
    """
    signature = None
    if public_key is not None:
        from zoo.bundle.signing import verify_signature

        signature = verify_signature(path, public_key)
    bundle = open_bundle(path, key)
    if tolerance != (None, None):
        bundle = _with_tolerance(bundle, *tolerance)
    mode_list = modes(providers)
    if not set(require) <= set(providers):
        raise ZooError(f"--require {', '.join(sorted(set(require) - set(providers)))}: also list it in --providers")
    sessions = {(g.name, m.name): open_session(g, m) for g in bundle.graphs for m in mode_list}
    reference, note = load_reference(bundle)
    checks = [row for g in bundle.graphs for row in graph_checks(g, mode_list, sessions, reference, note, batch_sizes)]
    task = task_checks(bundle, mode_list, sessions, reference, note)
    variant_sessions = {(g.name, v, m.name): open_session(g.variant(v), m)
                        for g in bundle.graphs for v in g.variants for m in mode_list}
    fp32_cpu: dict[str, ort.InferenceSession] = {}
    checks += variant_checks(bundle, mode_list, variant_sessions, batch_sizes, fp32_cpu)
    task += variant_task_checks(bundle, mode_list, variant_sessions, reference, note, fp32_cpu)
    provider_status = {m.name: {"provider": m.provider, "options": m.options, "tf32": m.tf32,
                                "status": _worst([sessions[(g.name, m.name)][1] for g in bundle.graphs]
                                                 + [n for (_, _, mode), (_, n) in variant_sessions.items()
                                                    if mode == m.name])}
                       for m in mode_list}
    ran = [r for r in checks + task if r["status"] != "skipped"]
    failures = [r for r in ran if r["status"] == "fail"]
    missing = [m for m in mode_list if m.name.split("-")[0] in require and provider_status[m.name]["status"].startswith("skipped")]
    report = {"bundle": str(bundle.path), "model": bundle.manifest["model"], "checksums": "ok",
              "signature": signature or {"status": "not checked (no --public-key)"},
              "reference": note, "variants": bundle.variants, "providers": provider_status, "checks": checks,
              "task": task, "ran": len(ran), "failures": len(failures), "required_missing": [m.name for m in missing],
              "passed": bool(ran) and not failures and not missing}
    if latency:
        from zoo.bundle.deployment import measure

        report["deployment"] = measure(bundle, mode_list, report)
    return report


def save_report(bundle: str | Path, report: dict[str, Any]) -> Path:
    """Keep ``report`` in the bundle for its card (``card/verification.json``): the one writer of the
    report (``zoo verify --save``, ``zoo publish``), with no path of this machine (a bundle is shipped)."""
    path = Path(bundle) / VERIFICATION
    atomic_write_json(path, portable(report))
    return path


def _worst(notes: list[str]) -> str:
    """A provider's status over all graphs: the first failure, else the first skip, else how it ran."""
    failed = [n for n in notes if n.startswith("failed:")]
    skipped = [n for n in notes if n.startswith("skipped:")]
    return (failed or skipped or notes)[0]


def _with_tolerance(bundle: Bundle, atol: float | None, rtol: float | None) -> Bundle:
    graphs = []
    for entry in bundle.manifest["graphs"]:
        entry = dict(entry)
        for key in ("tolerances", "deployment_tolerances"):
            entry[key] = {o: {"atol": t["atol"] if atol is None else atol, "rtol": t["rtol"] if rtol is None else rtol}
                          for o, t in entry[key].items()}
        graphs.append(entry)
    return Bundle(bundle.path, {**bundle.manifest, "graphs": graphs})


def summary(report: dict[str, Any]) -> str:
    """One line: what passed, what failed first, what was required but skipped."""
    ran = [r for r in report["checks"] + report["task"] if r["status"] != "skipped"]
    if report["passed"]:
        return f"verified: {len(ran)} checks passed ({report['model']}, reference {report['reference']})"
    first = next((r for r in report["checks"] + report["task"] if r["status"] == "fail"), None)
    if ran:
        parts = [f"{report['failures']} of {len(ran)} checks failed"]
    else:
        why: dict[str, list[str]] = {}
        for name, provider in report["providers"].items():
            why.setdefault(provider["status"], []).append(name)
        parts = ["no check ran"] + [f"{', '.join(names)} {status}" for status, names in why.items()]
    if first is not None:
        what = first.get("output") or f"{first['task']} task"
        if first.get("needed_atol") is not None:
            detail = f"max abs error {first['max_abs']:.3g}, needs atol {first['needed_atol']:.3g} > {first['atol']:.3g}"
        elif first.get("metric") is not None:
            detail = variant_effect(first) + " beyond its limits " + ", ".join(
                f"{k} {v:g}" for k, v in first["limits"].items())
        else:
            detail = first.get("reason", "task-level effect beyond its limit")
        variant = f" ({first['variant']})" if first.get("variant") else ""
        parts.append(f"first: {first['graph']}{variant}/{what} on {first['provider']} "
                     f"({first.get('case', 'test split')}): {detail}")
    if report["required_missing"]:
        parts.append(f"required but skipped: {', '.join(report['required_missing'])}")
    return "verification failed: " + "; ".join(parts)


def variant_effect(row: dict[str, Any]) -> str:
    """A variant's task row in words: ``accuracy 0.9944 -> 0.9917 (-0.0028), argmax agreement 0.997``."""
    text = f"{row['metric']} {row['fp32']:.4g} -> {row['value']:.4g} ({row['change']:+.2g})"
    return text + (f", argmax agreement {row['argmax_agreement']:.4g}" if "argmax_agreement" in row else "")
