"""Knowledge distillation (Hinton et al. 2015): a trained teacher run supervises a student classifier.

The student's loss is ``alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))`` plus
``(1 - alpha) *`` the recipe's cross-entropy on the labels: the softened teacher probabilities carry
how the teacher ranks the wrong classes, and ``T^2`` keeps the soft term's gradients on the scale of the
hard one's as T changes. The teacher sees exactly the (augmented) batch the student sees, in eval mode.

The teacher must have been trained on the same data (the SHA-256 in its config.json equals the
student's data's): a teacher that saw other samples would pass on what it learnt from them, and a
teacher whose test split is the student's training data would leak the test. Its weights' checksum
goes into the student's run, and a resumed student checks the teacher is still the same.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from zoo.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from zoo.data import Data
    from zoo.specs import ModelSpec

KEYS = ("kd_temperature", "kd_alpha")
DEFAULTS: dict[str, Any] = {"kd_temperature": 2.0, "kd_alpha": 0.5}  # measured in benchmarks/distill.py


class DistillError(ZooError):
    """The teacher cannot supervise this student, or the distillation settings mean nothing."""


def config_defaults(teacher: str | Path | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The distillation keys a run's config gains with ``--teacher``; the keys without it are refused."""
    if teacher is None:
        stray = [k for k in KEYS if k in overrides]
        if stray:
            raise DistillError(f"{stray[0]} is a distillation setting: give --teacher RUN")
        return {}
    return dict(DEFAULTS)


def finish_config(config: Mapping[str, Any]) -> None:
    if "kd_temperature" not in config:
        return
    if not config["kd_temperature"] > 0:
        raise DistillError(f"kd_temperature must be positive (got {config['kd_temperature']})")
    if not 0 <= config["kd_alpha"] <= 1:
        raise DistillError(f"kd_alpha must be between 0 and 1 (got {config['kd_alpha']})")


def support(spec: "ModelSpec") -> str | None:
    """Why ``--teacher`` cannot train ``spec`` (the loss lives in the core's classifier recipe), or None."""
    from zoo.options import recipe_refusal

    return recipe_refusal(spec, "distillation")


def describe_teacher(path: str | Path, spec: "ModelSpec", data: "Data") -> dict[str, Any]:
    """The teacher run, checked (a finished classifier on the same data), as the student's run records it."""
    from zoo.fsutil import sha256_file
    from zoo.runs import run_id
    from zoo.registry import get_model
    from zoo.runs import WEIGHTS, open_run

    reason = support(spec)
    if reason:
        raise DistillError(f"--teacher: {spec.name} cannot be distilled into: {reason}")
    run = open_run(path)
    if get_model(run.model).task != "classification":
        raise DistillError(f"--teacher {path}: {run.model} is not a classifier (task {get_model(run.model).task})")
    if run.record["data"]["sha256"] != data.sha256:
        raise DistillError(f"--teacher {path}: it was trained on other data ({run.record['data']['name']}, sha256 "
                           f"{run.record['data']['sha256'][:12]}...) than the student's ({data.info.name}, "
                           f"sha256 {data.sha256[:12]}...)")
    if run.state().get("status") != "complete" or not (run.path / WEIGHTS).exists():
        raise DistillError(f"--teacher {path}: the run is not complete (state {run.state().get('status')!r})")
    accuracy = run.metrics()["metrics"].get("accuracy")
    return {"run": run_id(run.path), "path": str(run.path.resolve()), "model": run.model,
            "weights_sha256": sha256_file(run.path / WEIGHTS), "data_sha256": run.record["data"]["sha256"],
            "accuracy": accuracy}


class Teacher:
    """A trained teacher network and the distillation settings of the run it supervises."""

    def __init__(self, module: "torch.nn.Module", record: Mapping[str, Any], config: Mapping[str, Any]) -> None:
        self.module, self.record = module, dict(record)
        self.temperature, self.alpha = float(config["kd_temperature"]), float(config["kd_alpha"])
        self.used = False

    def loss(self, logits: "torch.Tensor", x: "torch.Tensor", y: "torch.Tensor", hard,
             lengths: "torch.Tensor | None" = None) -> "torch.Tensor":
        """``alpha`` x the softened KL (x T^2) + (1 - ``alpha``) x ``hard(logits, y)``; ``lengths`` go to the
        teacher with sequences of different lengths."""
        import torch
        import torch.nn.functional as F

        self.used = True
        with torch.no_grad():
            taught = self.module(x) if lengths is None else self.module(x, lengths)
            target = F.log_softmax(taught / self.temperature, dim=1)
        soft = F.kl_div(F.log_softmax(logits / self.temperature, dim=1), target, log_target=True,
                        reduction="batchmean") * self.temperature ** 2
        return self.alpha * soft + (1.0 - self.alpha) * hard(logits, y)

    def summary(self) -> dict[str, Any]:
        """The distillation as metrics.json records it (the teacher by run id, never by path)."""
        return {"teacher": {k: v for k, v in self.record.items() if k != "path"},
                "temperature": self.temperature, "alpha": self.alpha}


def load_teacher(record: Mapping[str, Any], data: "Data", config: Mapping[str, Any], device: str,
                 load_trained: Callable[[Path], tuple]) -> Teacher:
    """The teacher of ``record`` with its trained weights, checked unchanged since the run began;
    ``load_trained`` is ``zoo.models.load_trained``, passed in by the caller (it sits a layer above)."""
    from zoo.fsutil import sha256_file
    from zoo.runs import WEIGHTS

    path = Path(record["path"])
    if not (path / WEIGHTS).exists():
        raise DistillError(f"the teacher run {record['run']} is not at {path} any more")
    if sha256_file(path / WEIGHTS) != record["weights_sha256"]:
        raise DistillError(f"the teacher run {record['run']} ({path}) has other weights than when this run began")
    if data.sha256 != record["data_sha256"]:
        raise DistillError(f"the teacher run {record['run']} was trained on other data than this student")
    _, module, _, _, _ = load_trained(path)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return Teacher(module.to(device).eval(), record, config)
