"""Resolving a model's configuration: its defaults plus the user's typed, checked overrides."""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from zoo.errors import ZooError, closest

REQUIRED_KEYS = ("epochs", "batch_size", "lr", "seed")
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


class ConfigError(ZooError):
    """An override names an unknown key or carries a value of the wrong type."""


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
            close = closest(key, list(config))
            hint = f" (did you mean {close!r}?)" if close else f"; known keys: {', '.join(sorted(config))}"
            raise ConfigError(f"unknown config key {key!r}{hint}")
        config[key] = _coerce(key, value, defaults[key])
    for key in ("epochs", "batch_size"):
        if key in config and config[key] < 1:
            raise ConfigError(f"config {key!r} must be 1 or more (got {config[key]})")
    if "lr" in config and not config["lr"] > 0:
        raise ConfigError(f"config 'lr' must be positive (got {config['lr']})")
    return config
