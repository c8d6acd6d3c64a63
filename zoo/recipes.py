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


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Shift each image (N, C, H, W) by up to ``max_shift`` pixels in each direction, filling with zeros.

    Sequences (N, T, F) are shifted as one-channel images: by whole steps in time and features.
    """
    if max_shift <= 0:
        return x
    if x.dim() == 3:
        return random_shift(x.unsqueeze(1), max_shift).squeeze(1)
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    dy = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def accuracy_on(model: nn.Module, split: Arrays, device: str) -> float:
    logits = predict_batches(model, torch.from_numpy(split.x).to(device))
    return float((logits.argmax(1).cpu().numpy() == split.y).mean())


def train_classifier(
    model: nn.Module,
    data: Data,
    config: Mapping[str, Any],
    context: TrainContext,
) -> list[dict[str, Any]]:
    """Cross-entropy training (``label_smoothing``, ``grad_clip`` from config) with cosine decay.

    With ``shift`` in the config, each training batch is randomly shifted by up to that many
    pixels (``random_shift``): the augmentation that carries small digit datasets furthest.

    The progress bar and history show ``loss`` and ``val_accuracy``.
    """
    net = context.distribute(model)
    opt = optimizer(model.parameters(), config)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(config.get("label_smoothing", 0.0)))
    clip = float(config.get("grad_clip", 0.0))
    shift = int(config.get("shift", 0))

    def step(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        x = random_shift(x, shift)
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return {"loss": loss.detach()}

    def validate() -> dict[str, float]:
        return {"val_accuracy": accuracy_on(model, data.val, context.world.device)}

    return fit(context, model, {"model": opt}, data.train, step, validate, {"model": cosine_schedule(opt, config)})


def evaluate_classifier(model: nn.Module, data: Data) -> dict[str, Any]:
    """Classification metrics of ``model`` on the test split (see ``zoo.metrics``)."""
    logits = predict_batches(model, torch.from_numpy(data.test.x))
    predicted = logits.argmax(1).numpy()
    return classification_metrics(np.asarray(data.test.y), predicted, data.info.num_classes)
