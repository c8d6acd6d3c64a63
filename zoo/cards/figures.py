"""The card's figures, drawn from the trained model and its run: small PNGs (matplotlib, Agg backend).

Which figures a model gets follows its task, never its family: classifiers get test samples with the
model's predictions and a confusion matrix (their attribution maps come with the explainability assessments,
``zoo.assess.explain``); reconstruction models originals beside reconstructions; generators a grid of samples,
one row per class when a graph input is a class label. Every model gets its training curves. The first of
them (``MAIN``) shows what the model does: the card opens with it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from zoo.plots import MAX_WIDTH_IN, TILE_IN, pyplot, row_pairs, save_png

COLUMNS = 10  # originals / reconstructions shown, and samples per row of the sample grid
SKIPPED_CURVES = ("epoch", "seconds")
CELL_IN = 0.42  # a confusion-matrix cell: 40 CSS pixels, room for a three-digit count in body-size text
MIN_CELL_IN = 0.3  # below this (many classes in the widest figure a card shows) the counts are left out
# The figure that shows what the model does, first on its card and its thumbnail in the catalog, by task
MAIN = {"classification": "examples", "reconstruction": "reconstructions", "generation": "samples"}
WRONG = "#c00000"  # a wrong prediction's note


def training_curves(history: list[Mapping[str, Any]], path: Path) -> str:
    keys = [k for k in history[0] if k not in SKIPPED_CURVES and isinstance(history[0][k], (int, float))]
    plt = pyplot()
    columns = min(len(keys), 3)
    rows = -(-len(keys) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(min(3.0 * columns, MAX_WIDTH_IN), 2.4 * rows), squeeze=False,
                             layout="constrained")
    epochs = [h["epoch"] for h in history]
    for ax, key in zip(axes.flat, keys):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="." if len(epochs) < 30 else None)
        ax.set_title(key)
        ax.set_xlabel("epoch")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    save_png(fig, path)
    return f"Training curves per epoch ({', '.join(keys)}), from the run's history.jsonl."


def confusion_matrix(matrix: list[list[int]], path: Path, class_names: Sequence[str] = ()) -> str:
    """Counts in cells big enough for text of the body's size; the classes named on the axes where the data
    names them."""
    fig, written = confusion_figure(matrix, class_names)
    save_png(fig, path)
    return ("Confusion matrix on the test split (rows: true class, columns: predicted), from metrics.json"
            + ("." if written else "; too many classes to write each count: the darker, the more samples."))


def confusion_figure(matrix: list[list[int]], class_names: Sequence[str] = ()):
    """The figure ``confusion_matrix`` saves, and whether each count is written in its cell."""
    plt = pyplot()
    counts = np.asarray(matrix)
    classes = len(counts)
    names = [str(n) for n in class_names] if len(class_names) == classes else [str(c) for c in range(classes)]
    cell = CELL_IN if max(len(n) for n in names) <= 3 else CELL_IN * 1.2
    side = min(cell * classes, MAX_WIDTH_IN - 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.2, side + 0.9), layout="constrained")
    ax.imshow(counts, cmap="Blues")
    written = side / classes >= MIN_CELL_IN  # else the colours alone: a count would not fit its cell
    for (row, col), value in np.ndenumerate(counts):
        if value and written:
            ax.text(col, row, str(value), ha="center", va="center",
                    color="white" if value > counts.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(classes), names, rotation=0 if max(len(n) for n in names) <= 2 else 90)
    ax.set_yticks(range(classes), names)
    return fig, written


def class_name(names: Sequence[str], index: int) -> str:
    """A class as a figure names it: its name where the data names its classes, else its number."""
    return str(names[index]) if index < len(names) else str(index)


def examples(model, data, path: Path) -> str:
    """What the classifier answers: the first test sample of each class with the predicted class and its
    probability under it (wrong ones in red), then the test samples it gets wrong, true -> predicted."""
    import torch

    from zoo.training import predict_batches

    test, names = data.test, list(data.info.class_names)
    probabilities = torch.softmax(predict_batches(model, torch.from_numpy(test.x)), dim=1).numpy()
    predicted = probabilities.argmax(axis=1)
    classes = np.unique(test.y)
    first = [int(np.flatnonzero(test.y == c)[0]) for c in classes][:COLUMNS]
    rows, titles = [test.x[first]], ["test samples"]
    notes = [[(f"{class_name(names, int(predicted[i]))}\n{probabilities[i, predicted[i]]:.2f}",
               "black" if predicted[i] == test.y[i] else WRONG) for i in first]]
    wrong = np.flatnonzero(predicted != test.y)[:COLUMNS]
    if len(wrong):
        rows.append(test.x[wrong])
        titles.append("wrong")
        notes.append([(f"{class_name(names, int(test.y[i]))}\n→ {class_name(names, int(predicted[i]))}", WRONG)
                      for i in wrong])
    row_pairs(rows, titles, path, notes=notes)
    count = int((predicted != test.y).sum())
    each = "each class" if len(classes) <= COLUMNS else f"each of the first {COLUMNS} classes"
    return (f"What the model answers: the first test sample of {each} with the class it predicts and that "
            f"class's probability under it" + (" (red: wrong)" if any(predicted[i] != test.y[i] for i in first)
                                                else "")
            + (f"; below, {'the first ' + str(len(wrong)) + ' of ' if count > len(wrong) else ''}the {count} test "
               f"sample{'s' if count != 1 else ''} it gets wrong, true class above the predicted one."
               if count else f"; it gets every one of the {len(test.y)} test samples right."))


def reconstructions(model, data, path: Path) -> str:
    import torch

    test = data.test
    if test.y is not None:
        index = [int(np.flatnonzero(test.y == c)[0]) for c in np.unique(test.y)][:COLUMNS]
    else:
        index = list(range(min(COLUMNS, len(test))))
    originals = test.x[index]
    with torch.no_grad():
        restored = model(torch.from_numpy(originals)).numpy().clip(0, 1)
    row_pairs([originals, restored], ["original", "reconstructed"], path, tile=TILE_IN * 1.25)
    return "Test images (top, one per class when labelled) and the model's reconstructions of them (bottom)."


def samples(spec, model, info, config: Mapping[str, Any], path: Path) -> str:
    """Draw from the primary graph's inputs as the exporter would; an integer input gives the rows."""
    import torch

    from zoo.models import onnx_graphs
    from zoo.graphs import primary

    graph = primary(onnx_graphs(spec, model, info, config))
    labels = next((i for i in graph.inputs if i.distribution == "integers"), None)
    values = list(range(int(labels.low), int(labels.high))) if labels else [None] * 4
    generator = torch.Generator().manual_seed(int(config["seed"]))
    rows = []
    with torch.no_grad():
        for value in values:
            inputs = [i.draw(COLUMNS, generator, value if i is labels else None) for i in graph.inputs]
            output = graph.module(*inputs)
            rows.append((output[0] if isinstance(output, (tuple, list)) else output).numpy().clip(0, 1))
    row_pairs(rows, [f"class {v}" if v is not None else "" for v in values], path)
    kind = f"one row per value of the '{labels.name}' input" if labels else "inputs drawn at random"
    return f"Samples from the '{graph.name}' graph, {kind} (seed {config['seed']}, not cherry-picked)."


def files_folder(model: str) -> Path:
    """Where a card's files go, relative to the card: ``figures/<model>/`` (figures, the report's copy)."""
    return Path("figures") / model


def make_figures(spec, model, data, run, card_dir: Path) -> list[dict[str, Any]]:
    """Draw the model's figures under ``card_dir/figures/<name>/``; entries give paths relative to card_dir."""
    folder = files_folder(spec.name)
    made: list[dict[str, Any]] = []

    def add(name: str, explains: bool, draw, *args) -> None:
        relative = folder / f"{name}.png"
        caption = draw(*args, card_dir / relative)
        made.append({"name": name, "file": relative.as_posix(), "caption": caption, "explains": explains,
                     **({"main": True} if name == MAIN.get(spec.task) else {})})

    metrics = run.metrics()["metrics"]
    if spec.task == "classification":
        # attributions are measured, with their faithfulness, by the explainability assessments
        add("examples", False, examples, model, data)
        add("confusion_matrix", False, lambda matrix, path: confusion_matrix(matrix, path, data.info.class_names),
            metrics["confusion_matrix"])
    elif spec.task == "reconstruction":
        add("reconstructions", True, reconstructions, model, data)
    else:
        add("samples", True, samples, spec, model, data.info, run.config)
    history = run.history()
    if history:
        add("training_curves", False, training_curves, history)
    return made
