"""Looking models and datasets up by name, with suggestions for typos."""
from __future__ import annotations

import fnmatch

from zoo.errors import UnknownModelError, ZooError, did_you_mean
from zoo.plugins import plugin_set
from zoo.specs import DatasetSpec, ModelSpec


def list_models(pattern: str | None = None, family: str | None = None, task: str | None = None,
                dataset: str | None = None) -> list[ModelSpec]:
    """Models of every loaded plugin, sorted by name; ``pattern`` is a glob on the name, ``dataset`` one on the
    dataset's name (``ucr-*``)."""
    specs = plugin_set().models.values()
    return [
        s
        for s in specs
        if (pattern is None or fnmatch.fnmatchcase(s.name, pattern))
        and (family is None or s.family == family)
        and (task is None or s.task == task)
        and (dataset is None or fnmatch.fnmatchcase(s.dataset, dataset))
    ]


def _conflict(kind: str, name: str) -> str | None:
    for conflict in plugin_set().conflicts:
        if conflict.kind == kind and conflict.name == name:
            return conflict.message()
    return None


def get_model(name: str) -> ModelSpec:
    models = plugin_set().models
    if name in models:
        return models[name]
    raise UnknownModelError(_conflict("model", name) or did_you_mean("model", name, sorted(models)))


def list_datasets() -> list[DatasetSpec]:
    return list(plugin_set().datasets.values())


def get_dataset(name: str) -> DatasetSpec:
    datasets = plugin_set().datasets
    if name in datasets:
        return datasets[name]
    raise ZooError(_conflict("dataset", name) or did_you_mean("dataset", name, sorted(datasets)))
