"""The Python API: build, train and evaluate models by name. The CLI is a thin layer over this."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

import torch

from zoo import __version__, runs
from zoo.config import resolve
from zoo.data import Data, DataInfo, load_data
from zoo.errors import Interrupted, ZooError, one_line
from zoo.graphs import GraphRoleError, OnnxGraph, check_graphs
from zoo.plugins import PluginError, call_model_hook
from zoo.registry import get_dataset, get_model
from zoo.specs import ModelSpec
from zoo.training import Progress, SilentProgress, TrainContext, World


def load_model_data(spec: ModelSpec, path: str | Path | None = None) -> Data:
    """The model's own dataset, or the user's file read the same way."""
    return load_data(get_dataset(spec.dataset), spec.requires_labels, path)


def build(spec: ModelSpec, config: Mapping[str, Any], info: DataInfo) -> torch.nn.Module:
    """A fresh model for ``spec``, initialised from ``config['seed']``."""
    torch.manual_seed(int(config["seed"]))
    return call_model_hook("zoo_build", spec, config=dict(config), info=info)


def onnx_graphs(spec: ModelSpec, model: torch.nn.Module, info: DataInfo, config: Mapping[str, Any]) -> list[OnnxGraph]:
    """The graphs the model's plugin exports, checked: unique names, exactly one ``primary``."""
    graphs = call_model_hook("zoo_onnx_graphs", spec, model=model, info=info, config=dict(config))
    try:
        check_graphs(graphs)
    except GraphRoleError as exc:
        raise PluginError(f"plugin {spec.plugin!r}, zoo_onnx_graphs for {spec.name!r}: {exc}") from None
    return graphs


def create_model(name: str, data: str | Path | None = None, **overrides: Any) -> torch.nn.Module:
    """An untrained model by name, sized for its dataset (or for ``data``), with config overrides."""
    spec = get_model(name)
    config = resolve(spec.default_config, overrides)
    if data is None:
        dataset = get_dataset(spec.dataset)
        info = DataInfo(dataset.name, dataset.layout, tuple(dataset.sample_shape), dataset.num_classes)
    else:
        info = load_model_data(spec, data).info
    return build(spec, config, info)


def _record(spec: ModelSpec, config: dict[str, Any], data: Data, data_path, world: World) -> dict[str, Any]:
    from zoo.versions import versions

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
            "splits": data.sizes(),
        },
        "world_size": world.world_size,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def check_new_run(name: str | None, overrides: Mapping[str, Any] | None, options: Mapping[str, Any],
                  data: str | Path | None) -> tuple[ModelSpec, dict[str, Any], Data]:
    """What every new run is checked for before anything is written: a known model, its config
    with the user's overrides and options (``epochs`` ...), and data it can read."""
    if name is None:
        raise ZooError("name a model to train, or --resume a run")
    spec = get_model(name)
    chosen = {key: value for key, value in options.items() if value is not None}
    config = resolve(spec.default_config, {**dict(overrides or {}), **chosen})
    return spec, config, load_model_data(spec, data)


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
) -> runs.Run:
    """Train a model by name (or resume a run) and evaluate it; returns the run directory.

    Same seed, same machine: same metrics. Every epoch leaves a resumable checkpoint; an
    interrupted run (Ctrl-C) is continued with ``resume=run_dir``.
    """
    world = world or World()
    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    owner = world.world_size == 1  # under torchrun the launcher has claimed the run directory
    if resume is not None:
        previous = runs.open_run(resume)
        if name is not None and name != previous.model:
            raise ZooError(f"{resume} is a run of {previous.model!r}, not {name!r}")
        if overrides or data is not None or any(v is not None for v in common.values()):
            raise ZooError("--resume continues a run with its own config and data; drop the other options")
        path = previous.path
        if owner:
            runs.claim(path)
    else:
        spec, config, loaded = check_new_run(name, overrides, common, data)
        if owner:
            path = runs.new_run_dir(spec.name, out, force)
        else:
            path = Path(out)
            path.mkdir(parents=True, exist_ok=True)
    try:
        if resume is not None:
            spec, config, data = get_model(previous.model), previous.config, previous.data_path
            state = previous.load_checkpoint(world.device)
            loaded = load_model_data(spec, data)
            _check_same_data(previous, loaded)
        else:
            state = None
        return _train_run(spec, config, loaded, data, path, state, world, progress or SilentProgress())
    finally:
        if owner:
            runs.release(path)


def _train_run(spec: ModelSpec, config: dict[str, Any], loaded: Data, data_path, path: Path,
               state: dict[str, Any] | None, world: World, progress: Progress) -> runs.Run:
    """Train in the claimed run directory ``path``, evaluate on rank 0, and record every step."""
    record = _record(spec, config, loaded, data_path, world)
    history: list[dict[str, Any]] = list(state["history"]) if state else []

    def epoch_done(entry: dict[str, Any]) -> None:
        history.append(entry)
        runs.write_history(path, history)

    if world.is_main:
        runs.write_record(path, record)
        runs.write_state(path, "running", len(history))
        runs.write_history(path, history)
    model = build(spec, config, loaded.info).to(world.device)
    context = TrainContext(
        seed=int(config["seed"]), epochs=int(config["epochs"]), batch_size=int(config["batch_size"]),
        world=world, progress=progress, checkpoint_path=path / runs.CHECKPOINT,
        resume=state, on_epoch_end=epoch_done,
    )
    try:
        call_model_hook("zoo_train", spec, model=model, data=loaded, config=config, context=context)
    except KeyboardInterrupt:
        if world.is_main:
            runs.write_state(path, "interrupted", len(history))
        raise Interrupted(f"zoo train --resume {path}") from None
    except BaseException as exc:
        if world.is_main:
            runs.write_state(path, "failed", len(history), error=one_line(exc))
        raise
    seconds = sum(float(r.get("seconds", 0.0)) for r in history)
    if world.is_main:
        runs.write_weights(path, model)
        metrics = evaluate_model(spec, model.cpu(), loaded, config)
        runs.write_metrics(path, {"metrics": metrics, "split": "test", "seed": config["seed"],
                                  "train_seconds": round(seconds, 3), "zoo_version": __version__,
                                  "world_size": world.world_size})
        runs.write_state(path, "complete", len(history))
    return runs.Run(path, record)


def evaluate_model(spec: ModelSpec, model: torch.nn.Module, data: Data, config: Mapping[str, Any]) -> dict[str, Any]:
    """The family's own evaluation on the test split, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return call_model_hook("zoo_evaluate", spec, model=model, data=data, config=dict(config))


def _check_same_data(run: runs.Run, data: Data) -> None:
    """Refuse to resume or evaluate a run on data other than what it was trained on."""
    if data.sha256 != run.record["data"]["sha256"]:
        where = run.data_path or run.record["data"]["name"]
        raise ZooError(f"the data of {run.path} changed since it was trained ({where})")


def load_trained(run: str | Path | runs.Run) -> tuple[ModelSpec, torch.nn.Module, Data, dict[str, Any], runs.Run]:
    """A run's model with its trained weights, and the data it was trained on (checked unchanged)."""
    run = run if isinstance(run, runs.Run) else runs.open_run(run)
    spec = get_model(run.model)
    data = load_model_data(spec, run.data_path)
    _check_same_data(run, data)
    model = build(spec, run.config, data.info)
    run.load_weights(model)
    model.eval()
    return spec, model, data, run.config, run


def evaluate(run: str | Path | runs.Run) -> dict[str, Any]:
    """Re-evaluate a run's saved weights on the test split (the numbers match metrics.json)."""
    spec, model, data, config, _ = load_trained(run)
    return evaluate_model(spec, model, data, config)
