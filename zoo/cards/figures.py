"""The card's figures, drawn from the trained model and its run: small PNGs (matplotlib, Agg backend).

Which figures a model gets follows its task, never its family: classifiers get a confusion matrix
(their attribution maps come with the explainability assessments, ``zoo.assess.explain``); reconstruction models originals beside
reconstructions; generators a grid of samples, one row per class when a graph input is a class
label. Every model gets its training curves.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zoo.plots import picture, pyplot, row_pairs, save_png

COLUMNS = 10  # originals / reconstructions shown, and samples per row of the sample grid
SKIPPED_CURVES = ("epoch", "seconds")


def training_curves(history: list[Mapping[str, Any]], path: Path) -> str:
    keys = [k for k in history[0] if k not in SKIPPED_CURVES and isinstance(history[0][k], (int, float))]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.2), squeeze=False)
    epochs = [h["epoch"] for h in history]
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="." if len(epochs) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    save_png(fig, path)
    return f"Training curves per epoch ({', '.join(keys)}), from the run's history.jsonl."


def confusion_matrix(matrix: list[list[int]], path: Path) -> str:
    plt = pyplot()
    counts = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(counts, cmap="Blues")
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(col, row, str(value), ha="center", va="center", fontsize=6,
                    color="white" if value > counts.max() / 2 else "black")
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_xticks(range(len(counts)))
    ax.set_yticks(range(len(counts)))
    ax.tick_params(labelsize=7)
    save_png(fig, path)
    return "Confusion matrix on the test split (rows: true class, columns: predicted), from metrics.json."


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
    row_pairs([originals, restored], ["original", "reconstructed"], path)
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
        made.append({"name": name, "file": relative.as_posix(), "caption": caption, "explains": explains})

    metrics = run.metrics()["metrics"]
    if spec.task == "classification":
        # attributions are measured, with their faithfulness, by the explainability assessments
        add("confusion_matrix", False, confusion_matrix, metrics["confusion_matrix"])
    elif spec.task == "reconstruction":
        add("reconstructions", True, reconstructions, model, data)
    else:
        add("samples", True, samples, spec, model, data.info, run.config)
    history = run.history()
    if history:
        add("training_curves", False, training_curves, history)
    return made
