"""Training and evaluation recipes shared by families, built on ``zoo.training.fit``.

Families keep their networks and losses; how to optimise, schedule, classify and
measure is written once here, so two classifier families never carry two copies.
Every recipe reads its knobs from the model's config with documented defaults.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from zoo.data import Arrays, Data
from zoo.metrics import classification_metrics
from zoo.training import TrainContext, fit, predict_batches


def optimizer(params: Iterable[nn.Parameter], config: Mapping[str, Any], **overrides: Any) -> torch.optim.Optimizer:
    """AdamW with ``lr`` and ``weight_decay`` (default 0) from the config; ``betas`` may be overridden."""
    options = {"lr": float(config["lr"]), "weight_decay": float(config.get("weight_decay", 0.0)), **overrides}
    return torch.optim.AdamW(params, **options)


def cosine_schedule(opt: torch.optim.Optimizer, config: Mapping[str, Any]):
    """Cosine decay of the learning rate to zero over ``epochs`` (stepped once per epoch)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(config["epochs"]))


def valid_steps(lengths: torch.Tensor, steps: int, like: torch.Tensor) -> torch.Tensor:
    """(N, ``steps``) in ``like``'s dtype: 1 at each sequence's steps before its length, 0 at its padding.

    Built by a comparison and ``torch.where``, never a cast of the lengths to float: exported to ONNX,
    a float Cast is what onnxconverter-common's float16 conversion leaves mistyped, and the fp16
    variant would not load."""
    inside = torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]
    one = torch.ones((), dtype=like.dtype, device=like.device)
    return torch.where(inside, one, torch.zeros_like(one))


def mean_over_valid(values: torch.Tensor, lengths: torch.Tensor, time_dim: int) -> torch.Tensor:
    """The mean of ``values`` over each sequence's own steps along ``time_dim`` (its padding left out):
    what a batch of padded sequences must give to answer as each sequence alone would."""
    mask = valid_steps(lengths, values.shape[time_dim], values)
    shape = [1] * values.dim()
    shape[0], shape[time_dim] = mask.shape
    mask = mask.reshape(shape)
    return (values * mask).sum(time_dim) / mask.sum(time_dim)


def random_shift(x: torch.Tensor, max_shift: int, lengths: torch.Tensor | None = None,
                 features: bool = False) -> torch.Tensor:
    """Shift each image (N, C, H, W) by up to ``max_shift`` pixels in each direction, filling with zeros.

    Sequences (N, T, F) move along time only, by up to ``max_shift`` steps: their features are channels
    (a sensor's readings), not a spatial axis, and shifting them would blank a one-feature series.
    With ``features`` (config ``shift_features``: the features are a spatial axis, as in an image read row by
    row) equal-length sequences are shifted as one-channel images instead, in time and features.
    With ``lengths`` (sequences padded after their ends) each sequence moves within its own length:
    a value shifted past its end is dropped and its padding stays zeros, so no value moves into the
    padding and no padding into the sequence (the draws are the same as without lengths).
    """
    if max_shift <= 0:
        return x
    if x.dim() == 3 and features and lengths is None:
        return random_shift(x.unsqueeze(1), max_shift).squeeze(1)
    if x.dim() == 3:
        n, t, _ = x.shape
        padded = nn.functional.pad(x, (0, 0, max_shift, max_shift))
        dt = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device)
        steps = dt[:, None] + torch.arange(t, device=x.device)[None, :]
        moved = padded[torch.arange(n, device=x.device)[:, None], steps]
        if lengths is None:
            return moved
        source = steps - max_shift  # the step of x each output step reads (outside 0..t-1: zeros)
        end = lengths.to(x.device)[:, None]
        keep = (torch.arange(t, device=x.device)[None, :] < end) & (source < end)
        return torch.where(keep[..., None], moved, torch.zeros((), dtype=x.dtype, device=x.device))
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    dy = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def lengths_of(split: Arrays, device: str = "cpu", index: np.ndarray | None = None) -> torch.Tensor | None:
    """A split's sequence lengths (of the samples at ``index``, else all) as an int64 tensor on ``device``;
    None when its sequences share one length: what goes beside its x to ``model(x, lengths)``."""
    if split.lengths is None:
        return None
    return torch.from_numpy(np.ascontiguousarray(split.lengths if index is None else split.lengths[index])).to(device)


def accuracy_on(model: nn.Module, split: Arrays, device: str) -> float:
    logits = predict_batches(model, torch.from_numpy(split.x).to(device), lengths=lengths_of(split, device))
    return float((logits.argmax(1).cpu().numpy() == split.y).mean())


def train_classifier(
    model: nn.Module,
    data: Data,
    config: Mapping[str, Any],
    context: TrainContext,
) -> list[dict[str, Any]]:
    """Cross-entropy training (``label_smoothing``, ``grad_clip`` from config) with cosine decay.

    With ``shift`` in the config, each training batch is randomly shifted by up to that many
    pixels (``random_shift``; ``shift_features`` shifts sequences along features too): the augmentation that
    carries small digit datasets furthest.
    Sequences of different lengths reach the model with their lengths: ``model(x, lengths)``.

    With ``context.privacy`` (``--dp-epsilon``) the same recipe runs as DP-SGD (``zoo.options.privacy``):
    Opacus clips each sample's gradient and adds noise, batches are Poisson-sampled, ``grad_clip`` is
    replaced by the per-sample clipping, and the history gains the ``epsilon`` spent so far. With
    ``context.teacher`` (``--teacher``) the loss is distillation's (``zoo.options.distill``).

    The progress bar and history show ``loss`` and ``val_accuracy``.
    """
    net = context.distribute(model)
    opt = optimizer(model.parameters(), config)
    schedule = cosine_schedule(opt, config)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(config.get("label_smoothing", 0.0)))
    clip = float(config.get("grad_clip", 0.0))
    shift, shift_features = int(config.get("shift", 0)), bool(config.get("shift_features", False))
    private, teacher = context.privacy, context.teacher
    batches = None
    if private is not None:
        net, opt, batches = private.attach(model, opt, len(data.train), context.batch_size, context.epochs,
                                           context.seed, context.world.device)
        clip = 0.0

    def step(x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x = random_shift(x, shift, lengths, shift_features)
        logits = net(x) if lengths is None else net(x, lengths)
        if teacher is None:
            loss = loss_fn(logits, y)
        else:
            extra = () if lengths is None else (lengths,)
            loss = teacher.loss(logits, x, y, loss_fn, *extra)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return {"loss": loss.detach()}

    def validate() -> dict[str, float]:
        scores = {"val_accuracy": accuracy_on(model, data.val, context.world.device)}
        return scores if private is None else {**scores, "epsilon": private.spent()}

    try:
        return fit(context, model, {"model": opt}, data.train, step, validate, {"model": schedule},
                   batches=batches, states=private.states() if private is not None else None)
    finally:
        if private is not None:
            private.detach()


def evaluate_classifier(model: nn.Module, data: Data) -> dict[str, Any]:
    """Classification metrics of ``model`` on the test split (see ``zoo.metrics``)."""
    logits = predict_batches(model, torch.from_numpy(data.test.x), lengths=lengths_of(data.test))
    predicted = logits.argmax(1).numpy()
    return classification_metrics(np.asarray(data.test.y), predicted, data.info.num_classes)
