"""Fine-tuning (``--init``): a new run starts from trained weights instead of a random initialisation.

The weights come from a run directory, a bundle (its ``weights.safetensors``, every checksum checked first) or
a published model by name (the hub's checked weights, ``zoo.hub.pretrained``): the caller (``zoo.api``, above
the bundle and the hub) reads them, and this module loads them into the network the
family builds for the new data: every layer must fit as it was, except the family's head (``ModelSpec.head``,
the module that maps features to classes, as timm's ``classifier``), whose layers are made afresh where the
number of classes differs. ``freeze`` trains the head alone. What was loaded, replaced and frozen, and the
source's weights SHA-256 (Hugging Face's ``base_model``), go into the run's record and its card.

On data this small, pre-training may not help at all: ``benchmarks/finetune.py`` measures it against training
from scratch on the same split, and the README quotes it. Imports torch, safetensors and ``zoo.errors``.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Mapping

from zoo.errors import ZooError, one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from zoo.specs import ModelSpec


class InitError(ZooError):
    """The weights to start from cannot be read, or do not fit the model being trained."""


def tensors_of(data: bytes, source: str) -> dict[str, Any]:
    """The tensors of a safetensors file's bytes (never a pickle), or one line naming ``source``."""
    try:
        from safetensors.torch import load as load_tensors

        return load_tensors(data)
    except Exception as exc:
        raise InitError(f"--init {source}: its weights are not a safetensors file ({one_line(exc)})") from None


def found(source: str, kind: str, model: str, data: bytes) -> dict[str, Any]:
    """What ``initialise`` loads and the record keeps: the weights read once, and their SHA-256."""
    return {"source": source, "kind": kind, "model": model, "weights_sha256": hashlib.sha256(data).hexdigest(),
            "tensors": tensors_of(data, source)}


def freeze_outside_head(model: torch.nn.Module, spec: ModelSpec) -> int:
    """Stop every parameter outside the head from training (``--freeze``); the number of values frozen."""
    frozen = 0
    for name, parameter in model.named_parameters():
        if not (name == spec.head or name.startswith(spec.head + ".")):
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def initialise(model: torch.nn.Module, found: Mapping[str, Any], spec: ModelSpec, freeze: bool) -> dict[str, Any]:
    """Load ``found["tensors"]`` into ``model``: every layer must fit but the head's, which keeps its fresh
    initialisation where its shape differs; with ``freeze`` only the head trains. Returns the record."""
    head = spec.head
    if freeze and not head:
        raise InitError(f"--freeze: the {spec.family} family names no head to train alone (ModelSpec.head)")
    state = model.state_dict()
    tensors = dict(found["tensors"])
    in_head = (lambda key: bool(head) and (key == head or key.startswith(head + ".")))  # noqa: E731
    missing = [k for k in state if k not in tensors and not in_head(k)]
    extra = [k for k in tensors if k not in state and not in_head(k)]
    if missing or extra:
        which = (f"it has no {missing[0]!r}" if missing else f"its {extra[0]!r} is not a layer here")
        raise InitError(f"--init {found['source']}: a {found['model']} network, not one {spec.name} can start from "
                        f"({which})")
    replaced = []
    for key, value in state.items():
        given = tensors.get(key)
        if given is None or tuple(given.shape) != tuple(value.shape):
            if not in_head(key):
                raise InitError(f"--init {found['source']}: layer {key!r} is shaped {tuple(given.shape)} there and "
                                f"{tuple(value.shape)} here (the data differs in channels, size or features); "
                                f"only the head ({head or 'none named'}) may differ")
            replaced.append(key)
            tensors[key] = value  # the fresh initialisation, seeded as every new run is
    model.load_state_dict({k: tensors[k] for k in state}, strict=True)
    frozen = freeze_outside_head(model, spec) if freeze else 0
    return {"source": found["source"], "kind": found["kind"], "model": found["model"],
            "weights_sha256": found["weights_sha256"], "head": head or None, "replaced": replaced,
            "frozen_parameters": frozen, "freeze": bool(freeze)}
