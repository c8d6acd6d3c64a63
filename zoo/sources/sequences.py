"""Sequences as people keep them: the UCR/UEA archive's ``.ts`` files and CSV (one sequence per row, or
long format), read to (N, T_max, F) float32 arrays padded with zeros after each sequence's end, with
int64 lengths when the lengths differ, and class names in natural order.

Values are kept as stored (the archive's series are z-normalised: negative values are normal); they
must be finite. A missing value ('?', an empty cell) is refused: zoo does not impute.

Imports: numpy, the standard library (csv), ``zoo.sources.common``.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.sources.common import (
    NO_SCALING,
    Arrays,
    DataError,
    Source,
    encode_labels,
    listing,
    natural_key,
    pad_sequences,
    plural,
)

PADDING = "zeros after each sequence's end, to the longest; the lengths travel with the data"
TS_TAGS = ("problemname", "timestamps", "missing", "univariate", "dimension", "dimensions", "equallength",
           "serieslength", "classlabel", "targetlabel", "data")
ID_NAMES = ("id", "series", "series_id", "sequence", "sequence_id", "case")
TIME_NAMES = ("time", "t", "step", "timestamp", "index")
LABEL_NAMES = ("label", "class", "target", "y")


def _floats(cells: list[str], where: str) -> np.ndarray:
    """Text cells as float64; one line naming the first cell that is not a finite number."""
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        bad = next(c for c in cells if not _is_number(c))
        raise DataError(f"{where}: {bad.strip()!r} is not a number") from None
    if not np.isfinite(values).all():
        raise DataError(f"{where}: holds NaN or infinite values; sequences must be finite")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _record(kind: str, x: np.ndarray, lengths: np.ndarray | None, names: tuple[str, ...], **facts: Any) -> dict[str, Any]:
    """The preprocessing record of sequences (what deployment must feed: (T, F) float32 as stored)."""
    return {
        "layout": "sequence",
        "source_format": kind,
        **facts,
        "input_shape": [int(x.shape[1]), int(x.shape[2])],
        "features": int(x.shape[2]),
        "length": ({"min": int(lengths.min()), "max": int(lengths.max())} if lengths is not None
                   else int(x.shape[1])),
        "padding": PADDING if lengths is not None else None,
        "scaling": NO_SCALING,
        "class_names": list(names),
    }


# --------------------------------------------------------------------------- .ts


@dataclass(frozen=True)
class TsFile:
    """One parsed .ts file: each case's (T, F) values, its label text (``None`` without labels), and the
    header's facts (``classlabel``: the declared labels)."""

    path: Path
    cases: list[np.ndarray]
    labels: list[str] | None
    header: dict[str, Any]


def _flag(value: str, tag: str, where: str) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise DataError(f"{where}: @{tag} must be true or false (found {value.strip()!r})")
    return word == "true"


def _header(tag: str, value: str, where: str, header: dict[str, Any]) -> None:
    if tag not in TS_TAGS:
        raise DataError(f"{where}: unknown header line @{tag} (a .ts header has @problemName, @timeStamps, @missing, "
                        f"@univariate, @dimensions, @equalLength, @seriesLength, @classLabel, @data)")
    if tag in ("timestamps", "missing", "univariate", "equallength", "targetlabel"):
        header[tag] = _flag(value, tag, where)
    elif tag in ("dimension", "dimensions", "serieslength"):
        if not value.strip().isdigit() or int(value) < 1:
            raise DataError(f"{where}: @{tag} must be a positive whole number (found {value.strip()!r})")
        header["dimensions" if tag.startswith("dimension") else tag] = int(value)
    elif tag == "classlabel":
        words = value.split()
        if _flag(value, tag, where):
            if len(words) < 2:
                raise DataError(f"{where}: @classLabel true names no labels (write them after it: @classLabel true "
                                f"1 2 3)")
            header[tag] = words[1:]
        else:
            header[tag] = None
    else:
        header[tag] = value.strip()
    if header.get("timestamps"):
        raise DataError(f"{where}: @timeStamps true: series with timestamps are not supported (save the values "
                        f"without timestamps)")
    if header.get("targetlabel"):
        raise DataError(f"{where}: @targetLabel true: regression targets are not supported; zoo reads class labels "
                        f"(@classLabel true ...)")


def read_ts(path: str | Path) -> TsFile:
    """Parse one .ts file of the UCR/UEA archive; every problem is one DataError line naming its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as text: {exc}") from None
    header: dict[str, Any] = {}
    cases: list[np.ndarray] = []
    labels: list[str] = []
    missing: list[int] = []
    lines: list[int] = []
    in_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}: line {number}"
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{where}: data before @data (a .ts file starts with @ header lines)")
            tag, _, value = line[1:].partition(" ")
            _header(tag.lower(), value, where, header)
            in_data = tag.lower() == "data"
            continue
        if "classlabel" not in header:
            raise DataError(f"{path}: no @classLabel line in the header (write @classLabel true <labels>, or "
                            f"@classLabel false)")
        parts = line.split(":")
        if header["classlabel"] is not None:
            if len(parts) < 2:
                raise DataError(f"{where}: no label after the values (dimensions end with ':label')")
            labels.append(parts.pop().strip())
        if "?" in line:
            missing.append(number)
            continue
        dims = []
        for d, part in enumerate(parts, start=1):
            if not part.strip():
                raise DataError(f"{where}: dimension {d} is empty")
            dims.append(_floats(part.split(","), f"{where}, dimension {d}"))
        if len({len(v) for v in dims}) > 1:
            raise DataError(f"{where}: its dimensions differ in length ({', '.join(str(len(v)) for v in dims)}); "
                            f"zoo reads one length per case")
        cases.append(np.stack(dims, axis=1))
        lines.append(number)
    if not in_data:
        raise DataError(f"{path}: no @data line: not a .ts file of the UCR/UEA archive")
    if missing:
        raise DataError(f"{path}: missing values ('?') in {plural(len(missing), 'case')}, on lines "
                        f"{listing([str(n) for n in missing])}; fill or drop them (zoo does not impute)")
    if not cases:
        raise DataError(f"{path}: no cases after @data")
    _check_ts(path, header, cases, labels, lines)
    return TsFile(path, cases, labels if header["classlabel"] is not None else None, header)


def _check_ts(path: Path, header: dict[str, Any], cases: list[np.ndarray], labels: list[str],
              lines: list[int]) -> None:
    """The data against its header: dimensions, lengths, labels (``lines``: each case's line number)."""
    dims = [c.shape[1] for c in cases]
    if header.get("univariate"):
        expected, said = 1, "@univariate true"
    elif "dimensions" in header:
        expected, said = header["dimensions"], f"@dimensions {header['dimensions']}"
    else:
        expected, said = dims[0], f"the first case's {dims[0]}"
    wrong = [f"line {lines[i]} ({d})" for i, d in enumerate(dims) if d != expected]
    if wrong:
        raise DataError(f"{path}: {plural(len(wrong), 'case')} with another number of dimensions than {said}: "
                        f"{listing(wrong)}")
    lengths = [len(c) for c in cases]
    if header.get("equallength") and len(set(lengths)) > 1:
        other = next(i for i, n in enumerate(lengths) if n != lengths[0])
        raise DataError(f"{path}: @equalLength true, but cases differ in length (line {lines[0]}: {lengths[0]}, line "
                        f"{lines[other]}: {lengths[other]})")
    if header.get("equallength") and "serieslength" in header and lengths[0] != header["serieslength"]:
        raise DataError(f"{path}: @seriesLength {header['serieslength']}, but the cases have {lengths[0]} values")
    declared = header.get("classlabel")
    if declared is not None:
        undeclared = sorted(set(labels) - set(declared), key=natural_key)
        if undeclared:
            raise DataError(f"{path}: {plural(len(undeclared), 'label')} not in the header's @classLabel list "
                            f"({' '.join(declared)}): {listing(undeclared)}")


def ts_source(files: dict[str, TsFile]) -> Source:
    """One or more .ts files (split name -> file) as one Source: padded to one length, labels encoded by
    the header's declared classes, which the files must agree on."""
    declared = {split: f.header.get("classlabel") for split, f in files.items()}
    first_split, first = next(iter(files.items()))
    for split, f in files.items():
        if (declared[split] is None) != (declared[first_split] is None) or (
                declared[split] is not None and set(declared[split]) != set(declared[first_split])):
            raise DataError(f"{f.path}: its @classLabel list differs from {first.path.name}'s; the files of one "
                            f"problem declare the same classes")
    features = {f.path.name: f.cases[0].shape[1] for f in files.values()}
    if len(set(features.values())) > 1:
        raise DataError(f"{first.path.parent}: the files differ in dimensions "
                        f"({', '.join(f'{k}: {v}' for k, v in features.items())})")
    every = [c for f in files.values() for c in f.cases]
    x, lengths = pad_sequences(every)
    names: tuple[str, ...] = ()
    y = None
    if declared[first_split] is not None:
        y, names = encode_labels([label for f in files.values() for label in f.labels], declared[first_split])
    splits, start = {}, 0
    for split, f in files.items():
        stop = start + len(f.cases)
        splits[split] = Arrays(x[start:stop], None if y is None else y[start:stop],
                               None if lengths is None else lengths[start:stop])
        start = stop
    record = _record(".ts (UCR/UEA archive)", x, lengths, names, problem=first.header.get("problemname"),
                     files={split: f.path.name for split, f in files.items()})
    return Source(splits, "ts", "sequence", names, record,
                  note=f"read {plural(len(every), 'sequence')} from {', '.join(f.path.name for f in files.values())}")


def read_ts_file(path: Path) -> Source:
    """One .ts file as one pool; the note points at the folder when the problem's other file lies beside it."""
    source = ts_source({"all": read_ts(path)})
    stem = path.name[: -len("_train.ts")] if path.name.lower().endswith("_train.ts") else None
    others = [p for p in path.parent.glob("*.ts") if stem and p.name.lower() == f"{stem.lower()}_test.ts"]
    if others:
        note = (f"{source.note}; {others[0].name} beside it is not read: give the folder {path.parent} to keep the "
                f"archive's train/test split")
        return Source(source.splits, source.kind, source.layout, source.class_names, source.preprocessing, note=note)
    return source


def read_ts_folder(folder: Path) -> Source | None:
    """A folder holding one problem's ``<NAME>_TRAIN.ts`` (and ``<NAME>_TEST.ts``): the archive's own split
    kept; ``None`` when the folder holds no ``*_TRAIN.ts``."""
    found = {p.name.lower(): p for p in folder.iterdir() if p.suffix.lower() == ".ts" and not p.name.startswith(".")}
    trains = sorted(name for name in found if name.endswith("_train.ts"))
    if not trains:
        return None
    if len(trains) > 1:
        raise DataError(f"{folder}: {len(trains)} *_TRAIN.ts files ({listing([found[t].name for t in trains])}); "
                        f"give the path of one problem's file, or a folder holding one problem")
    files = {"train": read_ts(found[trains[0]])}
    test = trains[0][: -len("_train.ts")] + "_test.ts"
    if test in found:
        files["test"] = read_ts(found[test])
    return ts_source(files)


# --------------------------------------------------------------------------- CSV


def _normal(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _one_of(columns: list[str], names: tuple[str, ...]) -> list[int]:
    return [i for i, c in enumerate(columns) if _normal(c) in names]


def _layout(path: Path, columns: list[str]) -> tuple[str, dict[str, Any]]:
    """Which CSV layout the header names (wide or long) and its columns; otherwise one line saying which
    column names to use."""
    hint = (f"name the columns: one sequence per row (a label column named one of {', '.join(LABEL_NAMES)}, and one "
            f"column per time step: t0, t1, ... or 0, 1, ...), or long format (one row per time step: a sequence-id "
            f"column named one of {', '.join(ID_NAMES)}, a time column named one of {', '.join(TIME_NAMES)}, the "
            f"label column and one or more feature columns)")
    label, ids, times = _one_of(columns, LABEL_NAMES), _one_of(columns, ID_NAMES), _one_of(columns, TIME_NAMES)
    for found, what in ((label, "label"), (ids, "sequence-id"), (times, "time")):
        if len(found) > 1:
            raise DataError(f"{path}: ambiguous header: {len(found)} {what} columns "
                            f"({', '.join(columns[i] for i in found)}); keep one, and {hint}")
    if not label:
        raise DataError(f"{path}: no label column in the header ({listing(columns)}); {hint}")
    if ids and times:
        features = [i for i in range(len(columns)) if i not in (label[0], ids[0], times[0])]
        if not features:
            raise DataError(f"{path}: long format without a feature column; {hint}")
        return "long", {"label": label[0], "id": ids[0], "time": times[0], "features": features}
    if ids or times:
        has = f"a {'sequence-id' if ids else 'time'} column ({columns[(ids or times)[0]]}) but no " \
              f"{'time' if ids else 'sequence-id'} column"
        raise DataError(f"{path}: ambiguous header: {has}; {hint}")
    steps = [i for i in range(len(columns)) if i != label[0]]
    numbers = [re.search(r"(\d+)$", columns[i].strip()) for i in steps]
    order = [int(m.group(1)) for m in numbers if m]
    if not steps or len(order) < len(steps) or order != sorted(set(order)):
        unknown = [columns[i] for i, m in zip(steps, numbers) if not m] or [columns[i] for i in steps]
        raise DataError(f"{path}: unknown layout: columns {listing(unknown)} are neither numbered time steps nor the "
                        f"long format's names; {hint}")
    return "wide", {"label": label[0], "steps": steps}


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
            delimiter = next((d for d in ",;\t" if d in first), ",")
            handle.seek(0)
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    if len(rows) < 2:
        raise DataError(f"{path}: no rows below the header")
    return rows[0], rows[1:]


def _wide(path: Path, columns: list[str], rows: list[list[str]], cols: dict[str, Any]):
    cases, labels = [], []
    for number, row in enumerate(rows, start=2):
        if len(row) > len(columns):
            raise DataError(f"{path}: row {number} has {len(row)} cells; the header names {len(columns)}")
        row = row + [""] * (len(columns) - len(row))
        labels.append(row[cols["label"]].strip())
        cells = [row[i] for i in cols["steps"]]
        while cells and not cells[-1].strip():
            cells.pop()  # a shorter sequence ends early: its last cells are empty
        if not cells or any(not c.strip() for c in cells):
            raise DataError(f"{path}: row {number} has empty cells {'inside the sequence' if cells else 'only'} "
                            f"(a shorter sequence leaves only its last cells empty)")
        cases.append(_floats(cells, f"{path}: row {number}")[:, None])
    steps = [columns[i] for i in cols["steps"]]
    return cases, labels, {"label": columns[cols["label"]], "steps": f"{steps[0]} ... {steps[-1]} "
                                                                      f"({plural(len(steps), 'column')})"}


def _long(path: Path, columns: list[str], rows: list[list[str]], cols: dict[str, Any]):
    groups: dict[str, list[tuple[str, list[str], int]]] = {}
    labels: dict[str, set[str]] = {}
    for number, row in enumerate(rows, start=2):
        if len(row) != len(columns):
            raise DataError(f"{path}: row {number} has {len(row)} cells; the header names {len(columns)}")
        case = row[cols["id"]].strip()
        groups.setdefault(case, []).append((row[cols["time"]].strip(), [row[i] for i in cols["features"]], number))
        labels.setdefault(case, set()).add(row[cols["label"]].strip())
    mixed = [case for case, found in labels.items() if len(found) > 1]
    if mixed:
        raise DataError(f"{path}: the label changes within {plural(len(mixed), 'sequence')} "
                        f"({columns[cols['id']]} {listing(mixed)}); each sequence has one label")
    numeric = all(_is_number(t) for steps in groups.values() for t, _, _ in steps)
    cases = []
    for case, steps in groups.items():
        times = [t for t, _, _ in steps]
        if len(set(times)) < len(times):
            raise DataError(f"{path}: sequence {case!r} has the same {columns[cols['time']]} twice; one row per "
                            f"time step")
        steps.sort(key=(lambda s: float(s[0])) if numeric else (lambda s: natural_key(s[0])))
        for _, cells, number in steps:
            if any(not c.strip() for c in cells):
                raise DataError(f"{path}: row {number} has an empty feature cell; fill or drop it "
                                f"(zoo does not impute)")
        cases.append(np.stack([_floats(cells, f"{path}: row {number}") for _, cells, number in steps]))
    facts = {"id": columns[cols["id"]], "time": columns[cols["time"]], "label": columns[cols["label"]],
             "features": [columns[i] for i in cols["features"]],
             "time_order": "numeric" if numeric else "natural order of the text"}
    return cases, [next(iter(labels[case])) for case in groups], facts


def read_csv(path: str | Path) -> Source:
    """A CSV of labelled sequences, wide (one per row) or long (one row per time step), detected from the
    header's column names; the record says which."""
    path = Path(path)
    columns, rows = _rows(path)
    layout, cols = _layout(path, columns)
    cases, labels, facts = (_wide if layout == "wide" else _long)(path, columns, rows, cols)
    x, lengths = pad_sequences(cases)
    y, names = encode_labels(labels)
    record = _record("csv", x, lengths, names, csv_layout=layout, columns=facts)
    return Source({"all": Arrays(x, y, lengths)}, "csv", "sequence", names, record,
                  note=f"read {plural(len(cases), 'sequence')} from {path.name} ({layout} layout: "
                       f"{'one sequence per row' if layout == 'wide' else 'one row per time step'})")
