"""The Python API: build, train and evaluate models by name. The CLI is a thin layer over this."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from zoo import __version__, runs
from zoo.config import DATA_DEFAULTS, DATA_KEYS, REQUIRED_KEYS, resolve
from zoo.data import Data
from zoo.errors import Interrupted, WorkFailed, ZooError, one_line
from zoo.fsutil import StorageError, portable
from zoo.models import (build, build_plain, build_recorded, check_same_data, completed_config, dataset_info,
                        evaluate_model, load_model_data, load_trained)
from zoo.options import distill, finetune, privacy
from zoo.plugins import call_model_hook
from zoo.registry import get_dataset, get_model
from zoo.specs import LAYOUT_MODALITY, ModelSpec
from zoo.training import Progress, SilentProgress, TrainContext, World


# The options of a new run beside --set: the required keys and the differential-privacy budget.
TRAIN_OPTIONS = (*REQUIRED_KEYS, "dp_epsilon", "dp_delta", "dp_max_grad_norm")


def create_model(name: str, data: str | Path | None = None, pretrained: bool = False,
                 **overrides: Any) -> torch.nn.Module:
    """An untrained model by name, sized for its dataset (or for ``data``), with config overrides.

    ``pretrained=True``: the published network with its published weights, in eval mode, after their
    SHA-256 is checked against the zoo's index and the bundle's manifest (``zoo.hub.pretrained``); it
    is looked up in the cache (``zoo pull``) and then in the built-in zoo, and takes no overrides.
    """
    if pretrained:
        from zoo.hub.pretrained import load_pretrained, refuse_overrides

        refuse_overrides(data, overrides)
        return load_pretrained(name)
    spec = get_model(name)
    reading = {key: DATA_DEFAULTS[key] for key in DATA_KEYS if key in overrides}
    config = resolve({**spec.default_config, **reading}, overrides, spec.config_help)
    info = dataset_info(spec) if data is None else load_model_data(spec, data, config).info
    return build(spec, config, info)


def _record(spec: ModelSpec, config: dict[str, Any], data: Data, data_path, world: World) -> dict[str, Any]:
    from zoo.versions import hardware, versions

    return {
        "model": spec.name,
        "family": spec.family,
        "task": spec.task,
        "plugin": spec.plugin,
        "config": config,
        "data": {
            "name": data.info.name,
            "path": str(Path(data_path).resolve()) if data_path is not None else None,
            "source": data.source,
            "sha256": data.sha256,
            "layout": data.info.layout,
            "sample_shape": list(data.info.sample_shape),
            "num_classes": data.info.num_classes,
            "class_names": list(data.info.class_names),
            "modality": get_dataset(spec.dataset).kind if data_path is None else LAYOUT_MODALITY[data.info.layout],
            "splits": data.sizes(),
            **({"lengths": [data.info.min_length, data.info.max_length]} if data.info.variable_length else {}),
            "preprocessing": portable(data.preprocessing),
            "skipped": list(data.skipped),
            "note": data.note,
        },
        "world_size": world.world_size,
        "versions": versions(),
        "hardware": hardware(world.device),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def check_new_run(name: str | None, overrides: Mapping[str, Any] | None, options: Mapping[str, Any],
                  data: str | Path | None, teacher: str | Path | None = None) -> tuple[ModelSpec, dict[str, Any], Data]:
    """What every new run is checked for before anything is written: a known model, its config
    with the user's overrides and options (``epochs``, ``dp_epsilon`` ...), data it can read, and
    that differential privacy or a teacher, when asked for, can train it."""
    if name is None:
        raise ZooError("name a model to train, or --resume a run")
    spec = get_model(name)
    overrides = dict(overrides or {})
    chosen = {key: value for key, value in options.items() if value is not None}
    reading = {key: DATA_DEFAULTS[key] for key in DATA_KEYS if key in overrides}
    if reading and data is None:
        raise ZooError(f"--set {next(iter(reading))} says how files are read: give them with --data (image folders)")
    defaults = {**spec.default_config, **privacy.config_defaults(chosen, overrides),
                **distill.config_defaults(teacher, overrides), **reading}
    config = resolve(defaults, {**overrides, **chosen}, spec.config_help)
    loaded = load_model_data(spec, data, config)
    privacy.finish_config(config, {**overrides, **chosen}, len(loaded.train))
    distill.finish_config(config)
    if privacy.is_private(config):
        if teacher is not None:
            raise distill.DistillError("--teacher and --dp-epsilon do not combine: the teacher saw the training "
                                       "data without privacy, so the student's epsilon would bound nothing")
        privacy.require_support(spec, build_plain(spec, config, loaded.info))
    if teacher is not None:
        distill.describe_teacher(teacher, spec, loaded)
    return spec, config, loaded


def init_weights(source: str | Path) -> dict[str, Any]:
    """The weights ``--init`` names, read once and checked: a run directory, a bundle folder (its checksums
    first), or a published model's name (the hub's checks). See ``zoo.options.finetune``."""
    from zoo.bundle import MANIFEST, open_bundle
    from zoo.options.finetune import InitError, found
    from zoo.runs import CONFIG, WEIGHTS, open_run, run_id

    path = Path(source)
    if (path / MANIFEST).is_file():
        bundle = open_bundle(path)
        pytorch = bundle.manifest.get("pytorch")
        if not pytorch:
            raise InitError(f"--init {source}: the bundle carries no PyTorch weights (exported before they were)")
        return found(path.resolve().name, "bundle", bundle.manifest["model"], bundle.read(pytorch["weights"]))
    if (path / CONFIG).is_file():
        run = open_run(path)
        if run.state().get("status") != "complete" or not (run.path / WEIGHTS).is_file():
            raise InitError(f"--init {source}: the run is not complete (state {run.state().get('status')!r})")
        return found(run_id(run.path), "run", run.model, (run.path / WEIGHTS).read_bytes())
    if path.exists():
        raise InitError(f"--init {source}: neither a run directory ({CONFIG}) nor a bundle ({MANIFEST})")
    from zoo.hub.pretrained import published_weights

    data, _, spec, _ = published_weights(str(source))
    return found(str(source), "published", spec.name, data)


def train(
    name: str | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    world: World | None = None,
    dp_epsilon: float | None = None,
    dp_delta: float | None = None,
    dp_max_grad_norm: float | None = None,
    teacher: str | Path | None = None,
    baseline: str | Path | None = None,
    init: str | Path | None = None,
    freeze: bool = False,
) -> runs.Run:
    """Train a model by name (or resume a run) and evaluate it; returns the run directory.

    Same seed, same machine: same metrics. Every epoch leaves a resumable checkpoint; an
    interrupted run (Ctrl-C) is continued with ``resume=run_dir``. ``dp_epsilon`` trains with
    differential privacy (``zoo.options.privacy``); ``teacher`` (a classifier run on the same data)
    distils into the model (``zoo.options.distill``); ``baseline``, a run of the same model trained without
    either, is measured and recorded beside it (``zoo.options.baseline``). ``init`` (a run, a bundle or a
    published model's name) fine-tunes from trained weights, the head made afresh where the classes differ;
    ``freeze`` trains the head alone (``zoo.options.finetune``).
    """
    world = world or World()
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "dp_epsilon": dp_epsilon,
              "dp_delta": dp_delta, "dp_max_grad_norm": dp_max_grad_norm}
    owner = world.world_size == 1  # under torchrun the launcher has claimed the run directory
    if resume is not None:
        previous = runs.open_run(resume)
        if name is not None and name != previous.model:
            raise ZooError(f"{resume} is a run of {previous.model!r}, not {name!r}")
        if overrides or data is not None or teacher is not None or baseline is not None or init is not None or freeze \
                or any(v is not None for v in common.values()):
            raise ZooError("--resume continues a run with its own config and data; drop the other options")
        privacy.check_processes(previous.config, world.world_size)
        path = previous.path
        if owner:
            runs.claim(path)
    else:
        spec, config, loaded = check_new_run(name, overrides, common, data, teacher)
        privacy.check_processes(config, world.world_size)
        start = _start(init, freeze, config)
        related = {"teacher": distill.describe_teacher(teacher, spec, loaded) if teacher is not None else None,
                   "baseline": _baseline(baseline, spec, loaded, config, teacher)}
        if owner:
            path = runs.new_run_dir(spec.name, out, force)
        else:
            path = Path(out)
            path.mkdir(parents=True, exist_ok=True)
    try:
        if resume is not None:
            spec, data = get_model(previous.model), previous.data_path
            config = completed_config(spec, previous.config, f"run {runs.run_id(path)}")
            state = previous.load_checkpoint(world.device)
            loaded = load_model_data(spec, data, config)
            check_same_data(previous, loaded)
            related = {key: previous.record.get(key) for key in ("teacher", "baseline", "init")}
            start = None
        else:
            state = None
        return _train_run(spec, config, loaded, data, path, state, world, progress or SilentProgress(), related,
                          start)
    finally:
        if owner:
            runs.release(path)


def _baseline(path, spec: ModelSpec, data: Data, config: Mapping[str, Any], teacher) -> dict[str, Any] | None:
    if path is None:
        return None
    from zoo.options.baseline import describe

    return describe(path, spec, data, config, teacher, load_trained)


def _start(init: str | Path | None, freeze: bool, config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The weights a new run starts from (``--init``), checked before anything is written."""
    if init is None:
        if freeze:
            raise ZooError("--freeze trains the head of a model that starts from trained weights: give --init too")
        return None
    if privacy.is_private(config):
        raise ZooError("--init and --dp-epsilon do not combine yet: the private network swaps BatchNorm for "
                       "GroupNorm, so published weights do not load into it")
    return {**init_weights(init), "freeze": freeze}


def _train_run(spec: ModelSpec, config: dict[str, Any], loaded: Data, data_path, path: Path,
               state: dict[str, Any] | None, world: World, progress: Progress,
               related: Mapping[str, dict[str, Any] | None], start: dict[str, Any] | None = None) -> runs.Run:
    """Train in the claimed run directory ``path``, evaluate on rank 0, and record every step.

    ``related``: the ``teacher``, ``baseline`` and ``init`` runs as the record keeps them (or None); ``start``:
    the weights a new run starts from (``init_weights``), loaded here and recorded as ``init``."""
    record = _record(spec, config, loaded, data_path, world)
    teacher = related.get("teacher")
    history: list[dict[str, Any]] = list(state["history"]) if state else []

    def epoch_done(entry: dict[str, Any]) -> None:
        history.append(entry)
        runs.write_history(path, history)

    model, replaced = build_recorded(spec, config, loaded.info)
    if privacy.is_private(config):
        record["privacy"] = {"layers_changed": replaced}
    if start is not None:
        record["init"] = finetune.initialise(model, start, spec, start["freeze"])
    elif (related.get("init") or {}).get("freeze"):  # a resumed run trains its head alone again
        finetune.freeze_outside_head(model, spec)
    record.update({key: value for key, value in related.items() if value is not None})
    if world.is_main:
        runs.write_record(path, record)
        runs.write_state(path, "running", len(history))
        runs.write_history(path, history)
    model = model.to(world.device)
    context = TrainContext(
        seed=int(config["seed"]), epochs=int(config["epochs"]), batch_size=int(config["batch_size"]),
        world=world, progress=progress, checkpoint_path=path / runs.CHECKPOINT,
        resume=state, on_epoch_end=epoch_done,
        privacy=privacy.PrivateTraining(config) if privacy.is_private(config) else None,
        teacher=distill.load_teacher(teacher, loaded, config, world.device, load_trained) if teacher is not None else None,
    )
    try:
        call_model_hook("zoo_train", spec, model=model, data=loaded, config=config, context=context)
        _check_recipe_used(spec, context)
    except KeyboardInterrupt:
        if world.is_main:
            runs.write_state(path, "interrupted", len(history))
        raise Interrupted(f"zoo train --resume {path}") from None
    except StorageError as exc:  # the way out of a full disk is --resume: the same command is refused now
        if world.is_main:
            with contextlib.suppress(ZooError):
                runs.write_state(path, "failed", len(history), error=one_line(exc))
        raise exc.then(_after_full_disk(spec, path)) from None
    except BaseException as exc:
        if world.is_main:
            runs.write_state(path, "failed", len(history), error=one_line(exc))
        raise
    seconds = sum(float(r.get("seconds", 0.0)) for r in history)
    if world.is_main:
        runs.write_weights(path, model)
        model = model.cpu()
        metrics = evaluate_model(spec, model, loaded, config)
        payload = {"metrics": metrics, "split": "test", "seed": config["seed"],
                   "train_seconds": round(seconds, 3), "zoo_version": __version__, "world_size": world.world_size}
        if context.privacy is not None:
            from zoo.membership import loss_attack

            payload["privacy"] = {**context.privacy.summary(), "membership_inference": loss_attack(model, loaded)}
        if context.teacher is not None:
            payload["distillation"] = context.teacher.summary()
        if related.get("baseline") is not None:
            payload["baseline"] = related["baseline"]
        runs.write_metrics(path, payload)
        runs.write_state(path, "complete", len(history))
    return runs.Run(path, record)


def _after_full_disk(spec: ModelSpec, path: Path) -> str:
    """What to run once space is freed: resume from the last checkpoint, or, where none was written, start
    the run again in its folder (which now exists, so only with --force)."""
    if (path / runs.CHECKPOINT).is_file() and (path / runs.CONFIG).is_file():
        return f"free space, then continue the run from its last checkpoint: zoo train --resume {path}"
    return (f"free space, then start it again with the options you gave (no epoch was saved to resume from): "
            f"zoo train {spec.name} --out {path} --force ...")


def _check_recipe_used(spec: ModelSpec, context: TrainContext) -> None:
    """A run asked for privacy or a teacher must have been trained with them: never claim what was not done."""
    remaining = context.epochs - (int(context.resume["epoch"]) if context.resume else 0)
    if context.privacy is not None and not context.privacy.attached:
        raise WorkFailed(f"{spec.name} was trained without the core's private recipe; no privacy guarantee holds")
    if context.teacher is not None and remaining > 0 and not context.teacher.used:
        raise WorkFailed(f"{spec.name} was trained without the loss of its teacher")


def evaluate(run: str | Path | runs.Run) -> dict[str, Any]:
    """Re-evaluate a run's saved weights on the test split (the numbers match metrics.json)."""
    spec, model, data, config, _ = load_trained(run)
    return evaluate_model(spec, model, data, config)
