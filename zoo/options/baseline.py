"""The run a private or distilled run is compared with (``--baseline RUN``): the same model on the same
data, trained without differential privacy and without a teacher.

Its numbers are measured when the new run starts and recorded with it (accuracy from its metrics.json;
for a private run, the membership-inference attack of ``zoo.membership`` on its weights), so that the
card of the new run can put "with" beside "without" and never needs the other run directory again.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from zoo.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    from zoo.data import Data
    from zoo.specs import ModelSpec


class BaselineError(ZooError):
    """The baseline run is not a fair comparison for this run."""


def describe(path: str | Path, spec: "ModelSpec", data: "Data", config: Mapping[str, Any],
             teacher: str | Path | None, load_trained: Callable[[Any], tuple]) -> dict[str, Any]:
    """The baseline run, checked and measured, as the new run records it; ``load_trained`` is
    ``zoo.models.load_trained``, passed in by the caller (it sits a layer above)."""
    from zoo.options import privacy
    from zoo.fsutil import sha256_file
    from zoo.runs import run_id
    from zoo.runs import WEIGHTS, open_run

    private = privacy.is_private(config)
    if not private and teacher is None:
        raise BaselineError("--baseline compares a private (--dp-epsilon) or distilled (--teacher) run with one "
                            "trained without; give one of them")
    run = open_run(path)
    if run.model != spec.name:
        raise BaselineError(f"--baseline {path}: a run of {run.model}, not of {spec.name}")
    if run.record["data"]["sha256"] != data.sha256:
        raise BaselineError(f"--baseline {path}: it was trained on other data than this run")
    if privacy.is_private(run.config) or run.record.get("teacher"):
        raise BaselineError(f"--baseline {path}: it was itself trained with differential privacy or a teacher")
    if run.state().get("status") != "complete" or not (run.path / WEIGHTS).exists():
        raise BaselineError(f"--baseline {path}: the run is not complete (state {run.state().get('status')!r})")
    found = {"run": run_id(run.path), "weights_sha256": sha256_file(run.path / WEIGHTS),
             "accuracy": run.metrics()["metrics"].get("accuracy")}
    if private:
        from zoo.membership import loss_attack

        found["membership_inference"] = loss_attack(load_trained(run)[1], data)
    return found
