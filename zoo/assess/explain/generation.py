"""Generators explained: walks between seeded noise draws (is the latent space smooth?) and, for a
class-conditional generator, the class grid (does the class input matter more than the noise?)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.assess import Context, Figure, Result
from ._shared import STREAM, first_output, plural
from zoo.plots import row_pairs

if TYPE_CHECKING:  # pragma: no cover
    import torch

PAIRS = 4  # noise pairs interpolated
STEPS = 8  # images per interpolation, endpoints included
COLUMNS = 8  # noise draws per class in the class grid


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Spherical interpolation from a to b (rows), ``steps`` points: it keeps Gaussian noise at a typical norm,
    where the straight line's midpoint would be unusually short (White 2016)."""
    import torch

    t = torch.linspace(0, 1, steps)[:, None]
    cosine = (a * b).sum() / (a.norm() * b.norm())
    omega = torch.arccos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    if float(omega) < 1e-4:
        return a + t * (b - a)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def path_smoothness(rows: np.ndarray) -> dict[str, float]:
    """Interpolation rows (pairs x steps x ...): consecutive-step pixel change against the endpoints' change.

    ``path_ratio`` is the summed step changes over the direct change (1: a straight walk in pixel space);
    ``largest_step_share`` the largest single step's share of the direct change (1 / (steps - 1) if even)."""
    flat = rows.reshape(*rows.shape[:2], -1)
    steps = np.abs(np.diff(flat, axis=1)).mean(axis=2)  # pairs x (steps - 1)
    direct = np.abs(flat[:, -1] - flat[:, 0]).mean(axis=1)
    safe = np.where(direct > 0, direct, 1.0)
    return {"mean_step_change": float(steps.mean()), "endpoint_change": float(direct.mean()),
            "path_ratio": float((steps.sum(axis=1) / safe).mean()),
            "largest_step_share": float((steps.max(axis=1) / safe).mean())}


def _generate(graph, inputs: list[torch.Tensor]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return first_output(graph.module(*inputs)).numpy()


def measure_latent_interpolation(ctx: Context) -> Result:
    """Walk between seeded noise pairs through the primary graph; for a class input, the class grid too."""
    from zoo.graphs import primary

    graph = primary(ctx.graphs())
    noise = [i for i in graph.inputs if i.distribution == "normal"]
    if not noise:
        return Result(summary=f"No latent interpolation: the '{graph.name}' graph has no normal noise input.",
                      values={"interpolated": False}, method="zoo_onnx_graphs, primary graph")
    labels = next((i for i in graph.inputs if i.distribution == "integers"), None)
    generator = ctx.generator(STREAM["noise"])
    pairs = ctx.count(PAIRS)
    rows = []
    for _ in range(pairs):
        inputs = []
        for graph_input in graph.inputs:
            if graph_input.distribution == "normal":
                ends = graph_input.draw(2, generator, None)
                walk = slerp(ends[0].reshape(-1), ends[1].reshape(-1), STEPS)
                inputs.append(walk.reshape(STEPS, *ends.shape[1:]))
            else:  # a class label or other condition, held fixed along the row
                inputs.append(graph_input.draw(1, generator, None).repeat_interleave(STEPS, dim=0))
        rows.append(_generate(graph, inputs).clip(0, 1))
    smooth = path_smoothness(np.stack(rows))
    path = ctx.figure("interpolation")
    row_pairs(rows, [f"pair {p + 1}" for p in range(pairs)], path)
    figures = [Figure(path.name, f"Each row walks through the '{graph.name}' graph's noise from one seeded draw to "
                                 f"another ({STEPS} steps, spherical interpolation; other inputs held fixed).")]
    values = {"interpolated": True, "pairs": pairs, "steps": STEPS, **smooth}
    ideal = 1 / (STEPS - 1)
    summary = (f"Between {plural(pairs, 'seeded noise pair')}, the walk through pixel space is "
               f"{smooth['path_ratio']:.2f} times the direct change between the endpoints (1: no detour), and the "
               f"largest single step is {smooth['largest_step_share']:.0%} of it ({ideal:.0%} if every step were "
               f"equal).")
    if labels is not None:
        grid, ratio = _class_grid(ctx, graph, labels)
        values["class_to_noise_change"] = ratio
        grid_path = ctx.figure("class-grid")
        classes = list(range(int(labels.low), int(labels.high)))
        row_pairs(grid, [f"class {c}" for c in classes], grid_path)
        figures.append(Figure(grid_path.name, f"Class grid: one row per value of the '{labels.name}' input, the same "
                                              f"seeded noise in each column."))
        summary += (f" In the class grid, changing the class moves the pixels {ratio:.2f} times as much as "
                    f"changing the noise.")
    return Result(summary=summary, values=values, figures=figures,
                  method=(f"The '{graph.name}' graph of zoo_onnx_graphs, inputs drawn as the exporter draws them; "
                          "mean absolute pixel change (numpy)."))


def _class_grid(ctx: Context, graph, labels) -> tuple[list[np.ndarray], float]:
    """Rows = classes, the same noise per column; how much the class moves the image against the noise."""
    columns = ctx.count(COLUMNS, minimum=2)
    generator = ctx.generator(STREAM["class-grid"])
    fixed = {i.name: i.draw(columns, generator, None) for i in graph.inputs if i is not labels}
    rows = []
    for value in range(int(labels.low), int(labels.high)):
        inputs = [i.draw(columns, generator, value) if i is labels else fixed[i.name] for i in graph.inputs]
        rows.append(_generate(graph, inputs).clip(0, 1))
    grid = np.stack(rows).reshape(len(rows), columns, -1)
    across_classes = _mean_pairwise(grid.transpose(1, 0, 2))  # per column, between its rows
    across_noise = _mean_pairwise(grid)  # per row, between its columns
    return rows, across_classes / (across_noise or 1.0)


def _mean_pairwise(groups: np.ndarray) -> float:
    """Mean absolute pixel difference between every two members of each group (groups x members x pixels)."""
    diff = np.abs(groups[:, :, None, :] - groups[:, None, :, :]).mean(axis=3)
    members = groups.shape[1]
    return float(diff.sum() / (len(groups) * members * (members - 1)))
