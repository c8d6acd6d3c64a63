"""The records plugins hand to the core: model and dataset specs, and ``Help`` (``zoo.config.Help``, here for
plugins: a config key's description with the values the model can use).

Plain dataclasses with no torch import, so that listing the zoo stays fast.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from zoo.config import REQUIRED_KEYS, ConfigError, Help, check_range, describe, key_range

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TASKS = ("classification", "reconstruction", "generation")
NO_DESCRIPTION = "(no description)"  # what zoo info shows for a key its plugin did not describe
LAYOUTS = ("image", "sequence")
# What the samples are, for the model card's Hub task: a layout says how a sample is read, a modality what it
# is (digits-rows is images read row by row). Default: the layout's own.
MODALITIES = ("image", "time-series")
LAYOUT_MODALITY = {"image": "image", "sequence": "time-series"}
# The notes a dataset writes once for every card of its models (``DatasetSpec.notes``); the card's data notes
# need the first four (with the spec's source and license), and its safety section takes ``privacy``.
DATASET_NOTES = {
    "collection": "how, when, by and from whom the data was gathered",
    "preprocessing": "what was done to it before zoo reads it (scaling, cropping, the split)",
    "known_gaps": "what it does not cover, and what that means for a model's scores",
    "biases": "who or what is over- or under-represented",
    "privacy": "personal information in it and how it is protected (the card's safety.training_data)",
}
# What a published result on a dataset's own split was (``DatasetSpec.published``): nearest-neighbour baselines, or a
# trained model of any kind (deep networks, ROCKET's random kernels with a linear classifier).
NEAREST_NEIGHBOUR, LEARNED = "nearest-neighbour", "learned"
PUBLISHED_KINDS = (NEAREST_NEIGHBOUR, LEARNED)
PUBLISHED_KEYS = ("method", "kind", "accuracy", "source")


class SpecError(ValueError):
    """A spec returned by a plugin does not follow the contract."""


@dataclass(frozen=True)
class ModelSpec:
    """What a plugin says about one model it can build, without building it.

    `default_config` is the full set of hyperparameters `zoo train --set` may change; its
    values' types are the types the command line accepts for them. It must hold
    ``zoo.config.REQUIRED_KEYS``. `config_help` describes each key in one line; keys the
    core reads (``zoo.config.CORE_KEYS``: epochs, lr, shift ...) are described by the core.
    `accepts` says in one line what data the model takes besides its own dataset (``zoo train --data``):
    ``"images of any size, 1 or 3 channels"``; ``zoo info`` shows it (default: its dataset's layout and shape).
    `head` names the module that maps features to the task's outputs (a classifier's logits, as timm's
    ``classifier``): ``zoo train --init`` starts from trained weights and makes the head's layers afresh where
    the new data has another number of classes, and ``--freeze`` trains the head alone.
    """

    name: str
    family: str
    task: str
    dataset: str
    summary: str
    default_config: Mapping[str, Any] = field(default_factory=dict)
    needs_labels: bool | None = None
    config_help: Mapping[str, str] = field(default_factory=dict)
    plugin: str = ""
    accepts: str = ""
    head: str = ""

    @property
    def requires_labels(self) -> bool:
        """Classifiers need labels; other tasks only when the spec says so."""
        return self.task == "classification" if self.needs_labels is None else bool(self.needs_labels)

    def validate(self) -> list[str]:
        """Raise SpecError naming the first field that breaks the contract; return what it relies on that the
        contract has deprecated (one line each; the loader reports them as warnings)."""
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise SpecError(f"model name {self.name!r} must match {NAME_PATTERN.pattern}")
        for attr in ("family", "dataset", "summary"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise SpecError(f"model {self.name!r}: {attr} must be a non-empty string")
        if self.task not in TASKS:
            raise SpecError(f"model {self.name!r}: task {self.task!r} is not one of {', '.join(TASKS)}")
        if not isinstance(self.default_config, Mapping):
            raise SpecError(f"model {self.name!r}: default_config must be a mapping")
        if not isinstance(self.config_help, Mapping) or not all(
                isinstance(v, str) and v.strip() for v in self.config_help.values()):
            raise SpecError(f"model {self.name!r}: config_help must map config keys to one-line descriptions")
        missing = [key for key in REQUIRED_KEYS if key not in self.default_config]
        if missing:
            raise SpecError(f"model {self.name!r}: default_config lacks {', '.join(map(repr, missing))} "
                            f"(every model needs {', '.join(REQUIRED_KEYS)})")
        for key, value in self.default_config.items():
            if not isinstance(key, str) or not isinstance(value, (bool, int, float, str, list, tuple)):
                raise SpecError(f"model {self.name!r}: config {key!r} must be a bool, number, string or list")
        extra = [key for key in self.config_help if key not in self.default_config]
        if extra:
            raise SpecError(f"model {self.name!r}: config_help describes keys not in default_config: "
                            f"{', '.join(map(repr, extra))}")
        found = []
        for key, value in self.default_config.items():
            try:
                check_range(key, list(value) if isinstance(value, tuple) else value, self.config_help)
            except ConfigError as exc:
                if isinstance(self.config_help.get(key), Help) and key_range(key, self.config_help) is not None:
                    raise SpecError(f"model {self.name!r}: its default is out of its declared range: {exc}") from None
                # a range the core declared after this plugin was written: warn before refusing
                found.append(f"model {self.name!r}: default {exc} (deprecated since plugin contract 2.1, refused "
                             f"from 3.0)")
        undescribed = [key for key in self.default_config if not describe(key, self.config_help)]
        if undescribed:
            found.append(f"model {self.name!r}: config key{'s' if len(undescribed) > 1 else ''} "
                         f"{', '.join(map(repr, undescribed))} {'have' if len(undescribed) > 1 else 'has'} no "
                         f"description (add {'them' if len(undescribed) > 1 else 'it'} to ModelSpec.config_help; "
                         f"deprecated since plugin contract 2.1, refused from 3.0)")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "dataset": self.dataset,
            "plugin": self.plugin,
            "summary": self.summary,
            "needs_labels": self.requires_labels,
            "default_config": dict(self.default_config),
            "config_help": {key: describe(key, self.config_help) or NO_DESCRIPTION for key in self.default_config},
            # the declared ranges as data (``zoo.config.Help.bounds``): minimum, exclusive_maximum, min_items ...
            "config_ranges": {key: found.bounds() for key in self.default_config
                              for found in [key_range(key, self.config_help)] if found is not None},
            "accepts": self.accepts,
        }


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset that ships with an installed package; `load()` returns a `zoo.data.Arrays`.

    `layout` tells how a sample is read: "image" samples are (C, H, W), "sequence" samples
    are (T, F). `load` is called only when the data is needed, so it may import freely.
    `notes` are the data notes every model card of this dataset shares, written once here, not
    copied into each family: ``DATASET_NOTES`` lists the keys a card uses (``collection``,
    ``preprocessing``, ``known_gaps``, ``biases`` for its data notes, beside ``source`` and ``license``;
    ``privacy`` for its safety section); a card whose family and dataset leave one out is incomplete,
    and ``zoo plugins`` says which before anything is trained. Other keys are shown as they are.
    `class_names` name the labels 0, 1, ... in order (cards and answers use them; empty: the numbers).
    `modality` says what a sample is when the layout alone does not (``MODALITIES``; default the layout's:
    ``image`` or ``time-series``); the card's Hub task follows it.
    `raw_input` says how a raw file becomes one of its samples, for ``zoo predict model file.png`` and the
    deployer's API: for images the keys of a ``zoo.sources.images`` record (``color_mode`` grey or rgb,
    ``image_size`` [H, W], ``resample`` (a Pillow filter), ``invert``); it goes into every bundle's
    preprocessing record. Empty: the bundle takes tensors only (or what an image folder's record says).
    `published` lists test accuracies published for the dataset's own train/test split (a ``load()`` returning
    ``{"train", "test"}``: published numbers compare only on the split they were measured on), for the card's
    comparison: each a mapping of ``PUBLISHED_KEYS``: ``method`` (its name), ``kind`` (``PUBLISHED_KINDS``: the
    card sets the model against the best of each), ``accuracy`` (the text as published, "0.9133": its digits are
    the published precision) and ``source`` (where it was published, in words, with the address). Empty: no
    comparison. Numbers typed from papers belong in one data file of the plugin, read into this field.
    """

    name: str
    layout: str
    sample_shape: tuple[int, ...]
    num_classes: int
    summary: str
    source: str
    license: str
    load: Callable[[], Any]
    plugin: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    modality: str = ""
    raw_input: Mapping[str, Any] = field(default_factory=dict)
    published: tuple[Mapping[str, str], ...] = ()

    @property
    def kind(self) -> str:
        """What a sample is: the declared modality, else the layout's (``LAYOUT_MODALITY``)."""
        return self.modality or LAYOUT_MODALITY.get(self.layout, self.layout)

    def validate(self) -> list[str]:
        """Raise SpecError naming the first field that breaks the contract (nothing is deprecated here yet)."""
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise SpecError(f"dataset name {self.name!r} must match {NAME_PATTERN.pattern}")
        if self.layout not in LAYOUTS:
            raise SpecError(f"dataset {self.name!r}: layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if not callable(self.load):
            raise SpecError(f"dataset {self.name!r}: load must be callable")
        for attr in ("summary", "source", "license"):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr):
                raise SpecError(f"dataset {self.name!r}: {attr} must be a non-empty string")
        if not isinstance(self.notes, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in self.notes.items()):
            raise SpecError(f"dataset {self.name!r}: notes must map names to non-empty strings")
        if self.modality and self.modality not in MODALITIES:
            raise SpecError(f"dataset {self.name!r}: modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        names = tuple(self.class_names)
        if names and (len(names) != self.num_classes or not all(isinstance(n, str) and n for n in names)
                      or len(set(names)) != len(names)):
            raise SpecError(f"dataset {self.name!r}: class_names must name each of its {self.num_classes} classes "
                            f"once, in label order")
        for row in self.published:
            self._check_published(row)
        return []

    def _check_published(self, row: Any) -> None:
        if not isinstance(row, Mapping) or not all(isinstance(row.get(k), str) and row[k] for k in PUBLISHED_KEYS):
            raise SpecError(f"dataset {self.name!r}: each published result is a mapping of {', '.join(PUBLISHED_KEYS)} "
                            f"to non-empty strings (found {row!r})")
        if row["kind"] not in PUBLISHED_KINDS:
            raise SpecError(f"dataset {self.name!r}: published result {row['method']!r} has kind {row['kind']!r}, "
                            f"not one of {', '.join(PUBLISHED_KINDS)}")
        try:
            accuracy = float(row["accuracy"])
        except ValueError:
            accuracy = -1.0
        if not 0.0 <= accuracy <= 1.0:
            raise SpecError(f"dataset {self.name!r}: published result {row['method']!r} has accuracy "
                            f"{row['accuracy']!r}; write the published text of a number from 0 to 1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layout": self.layout,
            "sample_shape": list(self.sample_shape),
            "num_classes": self.num_classes,
            "plugin": self.plugin,
            "summary": self.summary,
            "source": self.source,
            "license": self.license,
            "notes": dict(self.notes),
            "class_names": list(self.class_names),
            "modality": self.kind,
            "published": [dict(row) for row in self.published],
        }
