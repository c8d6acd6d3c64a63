"""Resolving a model's configuration: its defaults plus the user's typed, checked overrides."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from zoo.errors import ZooError, did_you_mean

REQUIRED_KEYS = ("epochs", "batch_size", "lr", "seed")
# Keys whose meaning the core decides (its training loop and the recipes in zoo.recipes read
# them), described once here; a plugin describes its own keys in ModelSpec.config_help.
CORE_KEYS = {
    "epochs": "passes over the training split",
    "batch_size": "samples per optimisation step (the global batch, split across processes)",
    "lr": "learning rate",
    "seed": "seed of initialisation, data order, augmentation and evaluation sampling",
    "weight_decay": "AdamW's decoupled weight decay",
    "label_smoothing": "cross-entropy label smoothing, 0 to 1 (classifiers)",
    "grad_clip": "clip the gradient norm to this value, 0 for no clipping (classifiers)",
    "shift": ("augmentation: shift each training sample by up to this many pixels (images) or time steps "
              "(sequences), 0 for none (classifiers)"),
    # differential privacy (zoo.options.privacy): in a run's config only when a budget is given (--dp-epsilon)
    "dp_epsilon": "differential privacy: the epsilon to spend over all epochs (DP-SGD with Opacus)",
    "dp_delta": ("differential privacy: the delta of the guarantee; default min(1e-5, 1/(10 x training "
                 "samples)), and it must stay below 1/(training samples)"),
    "dp_max_grad_norm": "differential privacy: each sample's gradient is clipped to this L2 norm before noise is added",
    "dp_accountant": "differential privacy: the accountant that bounds the epsilon spent, prv or rdp",
    # distillation (zoo.options.distill): in a run's config only with --teacher RUN
    "kd_temperature": "distillation: temperature T softening the teacher's and the student's probabilities",
    "kd_alpha": ("distillation: weight of the teacher's soft targets (KL x T^2) against cross-entropy on the "
                 "labels, 0 to 1"),
}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class ConfigError(ZooError):
    """An override names an unknown key or carries a value of the wrong type."""


def describe(key: str, config_help: Mapping[str, str]) -> str | None:
    """A config key's one-line description: the plugin's, else the core's."""
    return config_help.get(key) or CORE_KEYS.get(key)


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings from `--set` into a dict (values still text)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert ``value`` to the type of ``default``; text from the command line is parsed."""
    kind = type(default)
    wrong = ConfigError(f"config {key!r}: {value!r} is not a valid {kind.__name__} (default {json.dumps(default)})")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise wrong
    if kind in (int, float):
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, (int, float)) and (kind is float or float(value).is_integer()):
            return kind(value)
        if isinstance(value, str):
            try:
                return int(value) if kind is int else float(value)
            except ValueError:
                raise wrong from None
        raise wrong
    if kind in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            try:
                items = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
            except json.JSONDecodeError:
                raise wrong from None
        else:
            items = list(value) if isinstance(value, (list, tuple)) else None
        if items is None:
            raise wrong
        element = default[0] if default else None
        return [item if element is None else _coerce(key, item, element) for item in items]
    if isinstance(value, str):
        return value
    raise wrong


def resolve(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults with each override applied; unknown keys and bad values raise ConfigError."""
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in config:
            raise ConfigError(did_you_mean("config key", key, list(config)))
        config[key] = _coerce(key, value, defaults[key])
    for key in ("epochs", "batch_size"):
        if key in config and config[key] < 1:
            raise ConfigError(f"config {key!r} must be 1 or more (got {config[key]})")
    if "lr" in config and not config["lr"] > 0:
        raise ConfigError(f"config 'lr' must be positive (got {config['lr']})")
    return config
