"""What a plugin asks the exporter for: graphs, their inputs, and the tolerances they promise."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import torch

G = TypeVar("G")
DISTRIBUTIONS = ("uniform", "normal", "integers")
PRIMARY, COMPONENT = "primary", "component"
ROLES = {
    PRIMARY: "the graph a deployer runs (`zoo predict` without --graph), and the one that task-level checks, "
             "figures and benchmarks use; exactly one per model",
    COMPONENT: "a part of the model exported for its own use (an encoder, a decoder)",
}


@dataclass(frozen=True)
class Tolerance:
    """|onnx - torch| <= atol + rtol * |torch|, elementwise (numpy.allclose's rule)."""

    atol: float = 1e-5
    rtol: float = 1e-4

    def to_dict(self) -> dict[str, float]:
        return {"atol": self.atol, "rtol": self.rtol}


@dataclass(frozen=True)
class GraphInput:
    """One named graph input: an example tensor, its dynamic axes, and how to draw fresh values.

    ``distribution`` tells the verifier how to make new inputs at other batch sizes:
    ``uniform`` in [low, high), ``normal`` (standard), or ``integers`` in [low, high).
    """

    name: str
    example: torch.Tensor
    dynamic_axes: dict[int, str] = field(default_factory=lambda: {0: "batch"})
    distribution: str = "uniform"
    low: float = 0.0
    high: float = 1.0


@dataclass
class OnnxGraph:
    """One graph to export: ``module`` called with the inputs in order, producing ``outputs``.

    ``role`` says what the graph is for (see ``ROLES``): a model exports exactly one
    ``primary`` graph, and any number of ``component`` graphs beside it.
    ``tolerances`` is what ONNX Runtime must meet against PyTorch in FP32 (CPU, and CUDA in
    strict mode); ``deployment_tolerances`` is the looser promise for CUDA with TF32 on.
    Outputs absent from either mapping get ``Tolerance()`` and ``Tolerance(1e-3, 1e-3)``.
    """

    name: str
    module: torch.nn.Module
    inputs: list[GraphInput]
    outputs: list[str]
    role: str = PRIMARY
    output_dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    deployment_tolerances: dict[str, Tolerance] = field(default_factory=dict)

    def tolerance(self, output: str, deployment: bool = False) -> Tolerance:
        if deployment:
            return self.deployment_tolerances.get(output, Tolerance(1e-3, 1e-3))
        return self.tolerances.get(output, Tolerance())

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """All dynamic axes by tensor name; outputs default to a dynamic batch axis."""
        axes = {i.name: dict(i.dynamic_axes) for i in self.inputs}
        for name in self.outputs:
            axes[name] = dict(self.output_dynamic_axes.get(name, {0: "batch"}))
        return axes


class GraphRoleError(ValueError):
    """A model's graphs do not name exactly one primary graph, or use an unknown role or a name twice."""


def check_graphs(graphs: Sequence[Any]) -> None:
    """Raise GraphRoleError unless names are unique, roles known, and exactly one graph is primary."""
    names = [g.name for g in graphs]
    if len(set(names)) != len(names):
        raise GraphRoleError(f"graph names must be unique, got {', '.join(names)}")
    for graph in graphs:
        if graph.role not in ROLES:
            raise GraphRoleError(f"graph {graph.name!r} has role {graph.role!r}; roles are {', '.join(ROLES)}")
    primaries = [g.name for g in graphs if g.role == PRIMARY]
    if len(primaries) != 1:
        raise GraphRoleError(f"exactly one graph must have role {PRIMARY!r}, got {len(primaries)}"
                             + (f" ({', '.join(primaries)})" if primaries else ""))


def primary(graphs: Sequence[G]) -> G:
    """The one graph of role ``primary``: the question every module that picks a graph asks."""
    check_graphs(graphs)
    return next(g for g in graphs if g.role == PRIMARY)
