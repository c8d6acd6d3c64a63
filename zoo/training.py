"""What every trainer shares: the epoch loop, sampling, progress, checkpoints, resume and DDP.

A family's ``zoo_train`` builds its optimisers and a step function and hands them to
``fit``; the loop here does the rest the same way for every family, in one process or
in many under torch.distributed.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol

import torch
from torch.utils.data.distributed import DistributedSampler

from zoo.data import Arrays, DataError
from zoo.fsutil import atomic_write_bytes

StepFn = Callable[..., Mapping[str, Any]]  # step(x, y), and step(x, y, lengths=...) for sequences of different lengths


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch on ``count`` intra-op threads inside the block, the caller's count back after it: a fixed count keeps
    the order of floating-point sums, so the numbers do not depend on the machine's cores or a caller's choice."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one, unless under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> "World":
        """Read the variables torchrun sets; CUDA when the process has a GPU, else CPU."""
        rank, size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        return cls(rank=rank, world_size=size, local_rank=local, device=device)


class Progress(Protocol):
    """How the loop reports progress; the CLI shows a bar, the API stays silent."""

    def start(self, total_steps: int, done_steps: int) -> None: ...
    def advance(self) -> None: ...
    def epoch_done(self, record: Mapping[str, Any], epochs: int) -> None: ...
    def close(self) -> None: ...


class SilentProgress:
    def start(self, total_steps: int, done_steps: int) -> None:
        pass

    def advance(self) -> None:
        pass

    def epoch_done(self, record: Mapping[str, Any], epochs: int) -> None:
        pass

    def close(self) -> None:
        pass


class Batches(Protocol):
    """Which training samples each step of an epoch sees, as index tensors into the training split.

    ``fit`` asks for one epoch at a time, so that a resumed run replays the epochs it missed exactly.
    """

    def steps(self) -> int: ...
    def epoch(self, epoch: int) -> Iterable[torch.Tensor]: ...


class ShuffledBatches:
    """Each process's share of a permutation drawn from ``seed + epoch`` (a DistributedSampler), cut into
    batches of ``batch`` samples: one process and N processes see the same samples per global step."""

    def __init__(self, size: int, batch: int, seed: int, world: World) -> None:
        self.sampler = DistributedSampler(range(size), num_replicas=world.world_size, rank=world.rank,
                                          shuffle=True, seed=seed)
        self.batch, self.device = batch, world.device

    def steps(self) -> int:
        return math.ceil(len(self.sampler) / self.batch)

    def epoch(self, epoch: int) -> Iterable[torch.Tensor]:
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), device=self.device)
        return [order[start:start + self.batch] for start in range(0, len(order), self.batch)]


class Stateful(Protocol):
    """Training state beyond models, optimisers and schedulers (a privacy accountant) that a
    checkpoint must carry for a resumed run to end where an uninterrupted one does."""

    def state_dict(self) -> Mapping[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class TrainContext:
    """What the core hands a family's ``zoo_train``: run settings, progress, checkpoints, world.

    ``privacy`` (a ``zoo.options.privacy.PrivateTraining``) and ``teacher`` (a ``zoo.options.distill.Teacher``) are
    set when the run was asked for differential privacy or distillation; the core's classifier recipe
    (``zoo.recipes.train_classifier``) is what uses them, and the core refuses both for models that
    train otherwise.
    """

    seed: int
    epochs: int
    batch_size: int
    world: World = field(default_factory=World)
    progress: Progress = field(default_factory=SilentProgress)
    checkpoint_path: Path | None = None
    resume: dict[str, Any] | None = None
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None
    privacy: Any = None
    teacher: Any = None

    @property
    def local_batch_size(self) -> int:
        """Each process's share of the global batch, so that N processes match one process."""
        return max(1, self.batch_size // self.world.world_size)

    def distribute(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` wrapped in DistributedDataParallel when training on several processes."""
        if not self.world.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.world.local_rank] if self.world.device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=device_ids)


def checkpoint_state(model, optimizers, schedulers, epoch: int, history: list,
                     states: Mapping[str, Stateful] | None = None) -> dict[str, Any]:
    """Everything a resumed run needs, as tensors and plain containers (loadable with weights_only)."""
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
        "states": {k: dict(s.state_dict()) for k, s in (states or {}).items()},
        "rng": torch.get_rng_state(),
        "history": history,
    }


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _restore(state, model, optimizers, schedulers, states) -> None:
    model.load_state_dict(state["model"])
    for key, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][key])
    for key, scheduler in schedulers.items():
        scheduler.load_state_dict(state["schedulers"][key])
    for key, stateful in states.items():
        stateful.load_state_dict(state["states"][key])
    torch.set_rng_state(state["rng"])


def _global_means(sums: dict[str, float], count: int, world: World) -> dict[str, float]:
    """Per-epoch mean of each loss over every process's samples."""
    keys = sorted(sums)
    if world.distributed:
        import torch.distributed as dist

        totals = torch.tensor([sums[k] for k in keys] + [float(count)], dtype=torch.float64, device=world.device)
        dist.all_reduce(totals)
        values, count = totals[:-1].tolist(), totals[-1].item()
    else:
        values = [sums[k] for k in keys]
    return {k: v / count for k, v in zip(keys, values)}


def _agree_on_state(model: torch.nn.Module, world: World) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics are gathered per rank) and check
    that all ranks now hold the same weights: DDP's promise, verified once at the end."""
    import hashlib

    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    digests: list[Any] = [None] * world.world_size
    dist.all_gather_object(digests, digest.hexdigest())
    if len(set(digests)) > 1:
        raise RuntimeError(f"the ranks ended training with different weights (ranks differing from rank 0: "
                           f"{[r for r, d in enumerate(digests) if d != digests[0]]})")


def fit(
    context: TrainContext,
    model: torch.nn.Module,
    optimizers: Mapping[str, torch.optim.Optimizer],
    train: Arrays,
    step: StepFn,
    validate: Callable[[], Mapping[str, float]] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    batches: Batches | None = None,
    states: Mapping[str, Stateful] | None = None,
) -> list[dict[str, Any]]:
    """Run the epochs from ``context`` and return the history, one record per epoch.

    ``step(x, y)`` trains on one minibatch (forward, backward, optimiser steps, using
    modules from ``context.distribute``) and returns its losses; where the training split holds
    sequences of different lengths (``train.lengths``), the batch's lengths go with it as
    ``step(x, y, lengths=...)`` (int64, one per sample, on the device), and a step function that
    takes none is refused before training starts. ``validate()`` returns
    validation metrics for the record. By default each epoch shuffles through a
    DistributedSampler seeded with ``seed`` and set to the epoch (``ShuffledBatches``), so one
    process and N processes see the same permutation, and a resumed run replays exactly what
    the uninterrupted one would have; ``batches`` replaces that sampling (differential privacy
    samples each batch itself). ``states`` are checkpointed and restored beside the optimisers.
    Rank 0 writes a checkpoint after every epoch (atomically).
    """
    schedulers, states = dict(schedulers or {}), dict(states or {})
    world = context.world
    history: list[dict[str, Any]] = []
    first_epoch = 0
    if context.resume is not None:
        _restore(context.resume, model, optimizers, schedulers, states)
        history = [dict(r) for r in context.resume["history"]]
        first_epoch = int(context.resume["epoch"])
    x = torch.from_numpy(train.x).to(world.device)
    y = None if train.y is None else torch.from_numpy(train.y).to(world.device)
    lengths = None if train.lengths is None else torch.from_numpy(train.lengths).to(world.device)
    if lengths is not None:
        _check_takes_lengths(step)
    batches = batches or ShuffledBatches(len(train), context.local_batch_size, context.seed, world)
    steps = batches.steps()
    progress = context.progress if world.is_main else SilentProgress()

    def checkpoint(epoch: int) -> dict[str, Any]:
        return checkpoint_state(model, optimizers, schedulers, epoch, history, states)

    if context.resume is None and world.is_main and context.checkpoint_path is not None:
        # an epoch-0 checkpoint: a run interrupted during its first epoch can resume too
        save_checkpoint(context.checkpoint_path, checkpoint(0))
    progress.start(steps * context.epochs, steps * first_epoch)
    try:
        for epoch in range(first_epoch, context.epochs):
            started = time.perf_counter()
            model.train()
            sums: dict[str, float] = {}
            seen = 0
            for index in batches.epoch(epoch):
                labels = None if y is None else y[index]
                losses = step(x[index], labels) if lengths is None else step(x[index], labels, lengths=lengths[index])
                if len(index):  # an empty batch (possible under Poisson sampling) still steps, but has no loss
                    for key, value in losses.items():
                        sums[key] = sums.get(key, 0.0) + float(value) * len(index)
                    seen += len(index)
                progress.advance()
            record: dict[str, Any] = {"epoch": epoch + 1, **_global_means(sums, max(seen, 1), world)}
            for scheduler in schedulers.values():
                scheduler.step()
            if validate is not None:
                model.eval()
                with torch.no_grad():
                    record.update({k: float(v) for k, v in validate().items()})
            record["seconds"] = round(time.perf_counter() - started, 4)
            history.append(record)
            if world.is_main:
                if context.checkpoint_path is not None:
                    save_checkpoint(context.checkpoint_path, checkpoint(epoch + 1))
                if context.on_epoch_end is not None:
                    context.on_epoch_end(record)
                progress.epoch_done(record, context.epochs)
    finally:
        progress.close()
    if world.distributed:
        _agree_on_state(model, world)
    model.eval()
    return history


def predict_batches(module: Callable[..., torch.Tensor], x: torch.Tensor, batch_size: int = 512,
                    lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``module`` applied to ``x`` in chunks, without gradients (evaluation on a whole split); with
    ``lengths`` (sequences of different lengths) each chunk's lengths go with it: ``module(x, lengths)``."""
    with torch.no_grad():
        if lengths is None:
            return torch.cat([module(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        return torch.cat([module(x[i:i + batch_size], lengths[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _check_takes_lengths(step: Callable[..., Any]) -> None:
    """Refuse, before training, a step function that cannot take the batch's ``lengths``."""
    import inspect

    try:
        inspect.signature(step).bind(None, None, lengths=None)
    except TypeError:
        raise DataError("the training data holds sequences of different lengths, and this model's training step "
                        "takes no lengths (step(x, y, lengths=...)); pad them to one length, or use a model that "
                        "reads lengths") from None
    except ValueError:  # a builtin without a signature: let the call itself say
        pass
