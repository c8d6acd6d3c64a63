"""Resolving a model's configuration: its defaults plus the user's typed, checked overrides.

A key's description may carry the values the model can use (``Help``): a value outside them is bad input
(``ConfigError``, exit 2) before anything is built or trained, not a plugin failing later. Imports from
zoo: ``zoo.errors`` only.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Sequence

from zoo.errors import ZooError, did_you_mean

REQUIRED_KEYS = ("epochs", "batch_size", "lr", "seed")


class ConfigError(ZooError):
    """An override names an unknown key or carries a value of the wrong type or out of its range."""


def _number(value: float) -> str:
    return json.dumps(value)


class Help(str):
    """A config key's one-line description that also declares the values the model can use.

    It is the description itself (a ``str``), so every reader of ``config_help`` keeps working, and a plain
    string is still a description without a range. The bounds follow JSON Schema's words: ``minimum`` and
    ``maximum`` include the bound, ``exclusive_minimum`` and ``exclusive_maximum`` do not; for a list key
    they bound every item, and ``min_items``/``max_items`` its length. ``choices``: the values allowed (text
    keys such as ``cell``). ``Help("dropout before the head", minimum=0, exclusive_maximum=1)``.
    """

    __slots__ = ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum", "min_items", "max_items",
                 "choices")

    def __new__(cls, text: str, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_minimum: float | None = None, exclusive_maximum: float | None = None,
                min_items: int | None = None, max_items: int | None = None,
                choices: Sequence[Any] | None = None) -> "Help":
        self = super().__new__(cls, text)
        self.minimum, self.maximum = minimum, maximum
        self.exclusive_minimum, self.exclusive_maximum = exclusive_minimum, exclusive_maximum
        self.min_items, self.max_items = min_items, max_items
        self.choices = tuple(choices) if choices is not None else None
        return self

    def __reduce__(self):  # pickled (multiprocessing, pytest-xdist) with its range
        return _help, (str(self), self.bounds())

    def bounds(self) -> dict[str, Any]:
        """The declared range as JSON-able data (``zoo info --json``); empty: no range."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name in self.__slots__ for value in [getattr(self, name)] if value is not None}

    def range_text(self) -> str:
        """The range in words: ``in [0, 1)``, ``1 or more``, ``at least 1 item, each 1 or more``; '' if none."""
        low = (f"[{_number(self.minimum)}" if self.minimum is not None else
               f"({_number(self.exclusive_minimum)}" if self.exclusive_minimum is not None else None)
        high = (f"{_number(self.maximum)}]" if self.maximum is not None else
                f"{_number(self.exclusive_maximum)})" if self.exclusive_maximum is not None else None)
        if low and high:
            value = f"in {low}, {high}"
        elif low:
            value = "positive" if low == "(0" else f"{low[1:]} or more" if low[0] == "[" else f"above {low[1:]}"
        elif high:
            value = f"{high[:-1]} or less" if high[-1] == "]" else f"below {high[:-1]}"
        else:
            value = "one of " + ", ".join(map(json.dumps, self.choices)) if self.choices else ""
        items = [f"at least {self.min_items} item{'s' if self.min_items != 1 else ''}"
                 if self.min_items is not None else "",
                 f"at most {self.max_items} item{'s' if self.max_items != 1 else ''}"
                 if self.max_items is not None else ""]
        items = " and ".join(i for i in items if i)
        if items:
            return f"{items}, each {value}" if value else items
        return value

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (already of the key's type), in words; None when it is in range."""
        if isinstance(value, (list, tuple)):
            short = self.min_items is not None and len(value) < self.min_items
            long = self.max_items is not None and len(value) > self.max_items
            if short or long or any(self._outside(item) for item in value):
                return f"must have {self.range_text()}" if self.min_items or self.max_items is not None \
                    else f"must have every item {self.range_text()}"
            return None
        return f"must be {self.range_text()}" if self._outside(value) else None

    def _outside(self, value: Any) -> bool:
        if self.choices is not None and value not in self.choices:
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (math.isnan(value)
                or (self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)
                or (self.exclusive_minimum is not None and value <= self.exclusive_minimum)
                or (self.exclusive_maximum is not None and value >= self.exclusive_maximum))


def _help(text: str, bounds: Mapping[str, Any]) -> Help:
    return Help(text, **bounds)


# Keys whose meaning the core decides (its training loop and the recipes in zoo.recipes read
# them), described once here with the values the core can use; a plugin describes its own keys in
# ModelSpec.config_help. The differential-privacy and distillation keys are checked, with the options that
# set them, by zoo.options.privacy and zoo.options.distill.
CORE_KEYS = {
    "epochs": Help("passes over the training split", minimum=1),
    "batch_size": Help("samples per optimisation step (the global batch, split across processes)", minimum=1),
    "lr": Help("learning rate", exclusive_minimum=0),
    "seed": Help("seed of initialisation, data order, augmentation and evaluation sampling", minimum=0),
    "weight_decay": Help("AdamW's decoupled weight decay", minimum=0),
    "label_smoothing": Help("cross-entropy label smoothing (classifiers)", minimum=0, exclusive_maximum=1),
    "grad_clip": Help("clip the gradient norm to this value, 0 for no clipping (classifiers)", minimum=0),
    "shift": Help("augmentation: shift each training sample by up to this many pixels (images) or time steps "
                  "(sequences), 0 for none (classifiers)", minimum=0),
    "shift_features": ("augmentation: shift sequences along their features too, as pixels (for features that are a "
                       "spatial axis, such as an image read row by row; never for sensor channels) (classifiers)"),
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
# How files are read where their format leaves choices open (image folders, zoo.sources.ReadOptions): in a run's
# config only when given with --data (--set image_size=28), so that a resumed run reads its folder the same way.
DATA_KEYS = {
    "image_size": "image folders: resize every image to N x N (or H,W); empty keeps the images' one common size",
    "resample": Help("image folders: Pillow's resize filter",
                     choices=("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")),
    "image_mode": Help("image folders: auto (grey when every image is grey, else RGB), grey or rgb",
                       choices=("auto", "grey", "rgb")),
    "invert": "image folders: 255 minus every value (dark ink on paper, for a model that learnt bright ink)",
    "max_image_pixels": Help("image folders: refuse images with more pixels (decompression-bomb limit; 0: Pillow's)",
                             minimum=0),
    "skip_damaged": "image folders: leave out images that do not decode, and list them, instead of refusing",
    "cache": "image folders: keep the decoded arrays in $ZOO_HOME/data-cache and reuse them while unchanged",
}
DATA_DEFAULTS = {"image_size": "", "resample": "bilinear", "image_mode": "auto", "invert": False,
                 "max_image_pixels": 0, "skip_damaged": False, "cache": True}
CORE_KEYS.update(DATA_KEYS)
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def key_help(key: str, config_help: Mapping[str, str]) -> str | None:
    """A config key's ``config_help`` entry: the plugin's, else the core's (a ``Help`` or a plain string)."""
    return config_help.get(key) or CORE_KEYS.get(key)


def key_range(key: str, config_help: Mapping[str, str]) -> Help | None:
    """The values ``key`` may take: the plugin's declared range, else the core's; None where none is declared."""
    for source in (config_help, CORE_KEYS):
        found = source.get(key)
        if isinstance(found, Help) and found.bounds():
            return found
    return None


def describe(key: str, config_help: Mapping[str, str]) -> str | None:
    """A config key's one-line description as ``zoo info`` shows it, its range included
    (``dropout before the head (allowed: in [0, 1))``)."""
    text, limits = key_help(key, config_help), key_range(key, config_help)
    if not text:
        return None
    return f"{text} (allowed: {limits.range_text()})" if limits is not None else str(text)


def check_range(key: str, value: Any, config_help: Mapping[str, str]) -> None:
    """Refuse a value outside the range declared for ``key`` (one ``ConfigError`` line, exit 2)."""
    limits = key_range(key, config_help)
    problem = limits.problem(value) if limits is not None else None
    if problem:
        raise ConfigError(f"config {key!r} {problem} (got {json.dumps(value)})")


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings from `--set` into a dict (values still text)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _coerce(key: str, value: Any, default: Any, shown: Any = None) -> Any:
    """Convert ``value`` to the type of ``default``; text from the command line is parsed. ``shown``: the
    default the message quotes (a list key's whole default when one of its items is wrong)."""
    kind = type(default)
    shown = default if shown is None else shown
    wrong = ConfigError(f"config {key!r}: {value!r} is not a valid {kind.__name__} (default {json.dumps(shown)})")
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
        return [item if element is None else _coerce(key, item, element, default) for item in items]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
        return json.dumps(list(value) if isinstance(value, tuple) else value)  # image_size=8 from Python: "8"
    raise wrong


def resolve(defaults: Mapping[str, Any], overrides: Mapping[str, Any],
            config_help: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The defaults with each override applied; unknown keys, bad values and values outside the range
    declared for their key (``config_help``, the model's ``ModelSpec.config_help``, then ``CORE_KEYS``)
    raise ConfigError. The defaults themselves are the plugin's to keep in range (``ModelSpec.validate``)."""
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in config:
            raise ConfigError(did_you_mean("config key", key, list(config)))
        config[key] = _coerce(key, value, defaults[key])
        check_range(key, config[key], config_help or {})
    return config
