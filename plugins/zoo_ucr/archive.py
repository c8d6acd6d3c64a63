"""Where the archive's files are, and one problem read from them with zoo's own ``.ts`` reader.

sktime ships eight classification problems of the UCR/UEA archive as ``.ts`` files inside its wheel
(``sktime/datasets/data/<Name>/<Name>_TRAIN.ts`` and ``_TEST.ts``). The package is only located, never
imported: importing ``sktime.datasets`` takes seconds and pulls in pandas, and zoo reads the files itself.

Imports: the standard library and ``zoo.sources`` (the plugin API's readers); nothing else.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from zoo.sources import Arrays, DataError

PACKAGE = "sktime"
DATA_FOLDER = ("datasets", "data")  # inside the package
INSTALL = "pip install -c constraints.txt sktime==1.2.0"


class ArchiveMissing(DataError):
    """The package that carries the archive's files is not installed (or lacks them)."""


def data_folder() -> Path:
    """The folder of sktime's data files, found without importing sktime; ArchiveMissing (one line) if absent."""
    try:
        found = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise ArchiveMissing(f"{PACKAGE} is not installed: the UCR/UEA archive's sets are read from the .ts files "
                             f"inside its wheel ({INSTALL})")
    folder = Path(next(iter(found.submodule_search_locations))).joinpath(*DATA_FOLDER)
    if not folder.is_dir():
        raise ArchiveMissing(f"{PACKAGE} at {folder.parent.parent} has no {'/'.join(DATA_FOLDER)} folder: the "
                             f"UCR/UEA archive's files are missing ({INSTALL})")
    return folder


def read_problem(problem: str, class_names: tuple[str, ...], sample_shape: tuple[int, ...]) -> dict[str, Arrays]:
    """The archive's own split of ``problem``, ``{"train": ..., "test": ...}``, read by ``zoo.sources``;
    a DataError line when the files do not hold what the plugin declares (another sktime's files)."""
    from zoo.sources import read_source

    folder = data_folder() / problem
    if not (folder / f"{problem}_TRAIN.ts").is_file() or not (folder / f"{problem}_TEST.ts").is_file():
        raise ArchiveMissing(f"{folder}: {problem}_TRAIN.ts and {problem}_TEST.ts are not there ({INSTALL})")
    source = read_source(folder)
    found_shape = tuple(int(d) for d in source.splits["train"].x.shape[1:])
    if tuple(source.class_names) != tuple(class_names) or found_shape != tuple(sample_shape):
        raise DataError(f"{folder}: holds classes {list(source.class_names)} and samples {found_shape}; zoo declares "
                        f"{list(class_names)} and {tuple(sample_shape)} (the files of {INSTALL}, which zoo was "
                        f"written for)")
    return {"train": source.splits["train"], "test": source.splits["test"]}
