"""Autoencoders explained: where on the picture reconstruction errors fall, and what each of the most
varied code dimensions controls when moved alone (latent traversal)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import STREAM, first_output
from zoo.plots import MAX_WIDTH_IN, TILE_IN, picture, pyplot, row_pairs, save_png, show_picture

TRAVERSED = 6  # code dimensions shown in the latent traversal
TRAVERSAL = np.linspace(-2.0, 2.0, 7)  # standard deviations the traversed dimension moves


def _test_subset(ctx: Context) -> np.ndarray:
    """The whole test split at budget 1; a seeded subset below it."""
    size = len(ctx.data.test)
    count = min(size, ctx.count(size))
    return np.arange(size) if count == size else np.sort(ctx.rng(STREAM["subset"]).choice(size, count, replace=False))


def border_share(errors: np.ndarray) -> tuple[float, float]:
    """Share of the total error in the picture's outer ring of pixels, and the ring's share of the pixels."""
    ring = np.ones(errors.shape, dtype=bool)
    ring[1:-1, 1:-1] = False
    total = float(errors.sum()) or 1.0
    return float(errors[ring].sum()) / total, float(ring.mean())


def measure_reconstruction_errors(ctx: Context) -> Result:
    """Mean squared error per pixel over the test split (and per class when labelled): where the model fails."""
    import torch

    from zoo.training import predict_batches

    index = _test_subset(ctx)
    x = ctx.data.test.x[index]
    restored = predict_batches(ctx.model, torch.from_numpy(x)).numpy()
    squared = (restored - x) ** 2
    overall = picture(squared.mean(axis=0))
    labels = ctx.data.test.y[index] if ctx.data.test.y is not None else None
    per_class = ({int(c): float(squared[labels == c].mean()) for c in np.unique(labels)}
                 if labels is not None else {})
    edge, edge_pixels = border_share(overall)
    ranked = np.sort(overall.ravel())[::-1]
    top = max(1, len(ranked) // 10)
    top_share = float(ranked[:top].sum() / (ranked.sum() or 1.0))
    path = ctx.figure("error-maps")
    _error_figure(x, overall, squared, labels, path)
    values = {"samples": len(x), "mse": float(squared.mean()), "border_error_share": edge,
              "border_pixel_share": edge_pixels, "top_decile_error_share": top_share,
              "per_class_mse": {str(c): v for c, v in per_class.items()}}
    summary = (f"Mean squared error {values['mse']:.4f} per pixel over {len(x)} test images; the border ring "
               f"holds {edge:.0%} of the error on {edge_pixels:.0%} of the pixels, and the worst tenth of the "
               f"pixels holds {top_share:.0%} of it.")
    if per_class:
        worst, best = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
        values.update(worst_class=worst, best_class=best)
        summary += (f" Class {worst} reconstructs worst ({per_class[worst]:.4f}), class {best} best "
                    f"({per_class[best]:.4f}).")
    table = Table(["class", "MSE"], [[c, round(v, 5)] for c, v in per_class.items()],
                  "Mean squared reconstruction error per pixel of each class's test images.") if per_class else None
    return Result(
        summary=summary, values=values, tables=[table] if table else [],
        figures=[Figure(path.name, "Per-pixel mean squared reconstruction error on the test split: all images, then "
                                   "each class (bottom; one colour scale), under the class's mean image (top).")],
        method="The model's reconstructions of the test split; squared error per pixel, averaged (numpy).")


def _error_figure(x: np.ndarray, overall: np.ndarray, squared: np.ndarray, labels, path) -> None:
    """Top: mean image; bottom: mean squared error; first column all images, then one column per class."""
    groups = [("all", np.ones(len(x), dtype=bool))]
    if labels is not None:
        groups += [(str(c), labels == c) for c in np.unique(labels)]
    maps = [overall] + [picture(squared[m].mean(axis=0)) for _, m in groups[1:]]
    limit = float(max(m.max() for m in maps)) or 1.0
    plt = pyplot()
    tile = min(TILE_IN * 1.2, (MAX_WIDTH_IN - 1.5) / len(groups))
    fig, axes = plt.subplots(2, len(groups), figsize=(tile * len(groups) + 1.5, 2 * tile + 0.6), squeeze=False,
                             layout="constrained")
    for col, ((name, members), errors) in enumerate(zip(groups, maps)):
        show_picture(axes[0][col], picture(x[members].mean(axis=0)), cmap="gray_r", vmin=0, vmax=1)
        axes[0][col].set_title(name)
        image = show_picture(axes[1][col], errors, cmap="magma", vmin=0, vmax=limit)
    fig.colorbar(image, ax=axes[1].tolist(), shrink=0.9, label="MSE")
    save_png(fig, path)


def code_graphs(graphs: Sequence[Any], sample_shape: Sequence[int]):
    """The encoder (a component graph from one image to a code) and the decoder (a component graph from that
    code to an image), or None when the model exports no such pair."""
    import torch

    from zoo.graphs import COMPONENT

    def output_shape(graph) -> tuple[int, ...]:
        with torch.no_grad():
            out = graph.module(*[i.example for i in graph.inputs])
        return tuple(first_output(out).shape[1:])

    parts = [g for g in graphs if g.role == COMPONENT and len(g.inputs) == 1]
    image = tuple(sample_shape)
    encoders = [g for g in parts if tuple(g.inputs[0].example.shape[1:]) == image and output_shape(g) != image]
    for encoder in encoders:
        code = output_shape(encoder)
        decoder = next((g for g in parts if tuple(g.inputs[0].example.shape[1:]) == code
                        and output_shape(g) == image), None)
        if decoder is not None:
            return encoder, decoder
    return None


def measure_latent_traversal(ctx: Context) -> Result:
    """Decode the mean code with one high-variance dimension moved from -2 to +2 std: what each one controls."""
    import torch

    from zoo.training import predict_batches

    found = code_graphs(ctx.graphs(), ctx.data.info.sample_shape)
    if found is None:
        return Result(summary="No latent traversal: the model exports no encoder and decoder component graphs "
                              "(an image-to-code graph and a code-to-image graph).",
                      values={"traversed": False}, method="zoo_onnx_graphs, component graphs by role and shape")
    encoder, decoder = found
    x = torch.from_numpy(ctx.data.test.x[_test_subset(ctx)])
    codes = first_output(predict_batches(encoder.module, x)).reshape(len(x), -1)
    mean, std = codes.mean(dim=0), codes.std(dim=0)
    low, high = codes.min(dim=0).values, codes.max(dim=0).values
    dims = [int(d) for d in torch.argsort(std, descending=True, stable=True)[:TRAVERSED]]
    rows, change = [], []
    code_shape = tuple(decoder.inputs[0].example.shape[1:])
    for d in dims:
        moved = mean.repeat(len(TRAVERSAL), 1)
        moved[:, d] = (mean[d] + torch.from_numpy(TRAVERSAL).float() * std[d]).clamp(low[d], high[d])
        with torch.no_grad():
            images = first_output(decoder.module(moved.reshape(len(TRAVERSAL), *code_shape))).numpy()
        rows.append(images.clip(0, 1))
        change.append(float(np.abs(images[-1] - images[0]).mean()))
    path = ctx.figure("traversal")
    row_pairs(rows, [f"dim {d}" for d in dims], path)
    order = np.argsort(change)[::-1]
    summary = (f"Of the {int(np.prod(code_shape))} code dimensions, the {len(dims)} that vary most on the test split "
               f"were moved from -2 to +2 standard deviations around the mean code: dimension {dims[order[0]]} "
               f"changes the decoded image most (mean pixel change {change[order[0]]:.3f}), dimension "
               f"{dims[order[-1]]} least ({change[order[-1]]:.3f}).")
    return Result(
        summary=summary,
        values={"traversed": True, "code_size": int(np.prod(code_shape)), "samples": len(x), "dimensions": dims,
                "code_std": [float(std[d]) for d in dims], "pixel_change": change,
                "encoder": encoder.name, "decoder": decoder.name},
        tables=[Table(["dimension", "std on test", "mean pixel change"],
                      [[d, round(float(std[d]), 4), round(c, 4)] for d, c in zip(dims, change)],
                      "Mean absolute pixel change between the images decoded at -2 and +2 standard deviations.")],
        figures=[Figure(path.name, f"Latent traversal: each row decodes the mean test code with one dimension moved "
                                   f"from -2 to +2 standard deviations ({len(TRAVERSAL)} steps; kept within the "
                                   f"range the encoder produces on the test split).")],
        method=f"The '{encoder.name}' and '{decoder.name}' component graphs of zoo_onnx_graphs (torch modules).")
