"""Built-in datasets: the problems of the UCR/UEA time-series classification archive that ship inside sktime.

sktime's wheel carries eight of the archive's problems as ``.ts`` files; zoo reads them with its own reader
(``zoo.sources``) and never imports sktime or pandas (``archive``). Each keeps the archive's own train/test
split, so that its models compare with the results published for it (``published.json``, the one file of
numbers typed from papers, which the cards quote). Names: ``ucr-<problem>`` for the univariate UCR 2018
archive, ``uea-<problem>`` for the multivariate UEA 2018 archive, the problem's name in lower case
(``ucr-gunpoint``, ``uea-basicmotions``). Without sktime the plugin offers nothing and says why, in one line
(``zoo plugins``); the rest of the zoo works on.

Imports: ``zoo`` (the plugin API: ``DatasetSpec``, ``hookimpl``, ``zoo.sources``) and this package.
"""
from __future__ import annotations

import functools

from zoo import DatasetSpec, hookimpl
from zoo_ucr import archive, published
from zoo_ucr.problems import LICENSE, PROBLEMS, Problem


def dataset_spec(problem: Problem) -> DatasetSpec:
    """The DatasetSpec of one problem: its files read lazily, its published results attached."""
    return DatasetSpec(
        name=problem.name, layout="sequence", sample_shape=problem.sample_shape,
        num_classes=len(problem.class_names), summary=problem.summary, source=problem.source(), license=LICENSE,
        load=functools.partial(archive.read_problem, problem.problem, problem.class_names, problem.sample_shape),
        notes={**problem.notes, "citation": problem.citation}, class_names=problem.class_names,
        modality="time-series", published=published.rows(problem.problem))


@hookimpl
def zoo_datasets():
    archive.data_folder()  # sktime missing: this raises one line, and the plugin is reported, not the CLI broken
    return [dataset_spec(problem) for problem in PROBLEMS]
