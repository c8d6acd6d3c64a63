"""What a plugin asks the exporter for: graphs, their inputs, and the tolerances they promise."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    import torch

G = TypeVar("G")
LENGTHS = "lengths"  # the distribution of an input that holds each sequence's length (see GraphInput)
DISTRIBUTIONS = ("uniform", "normal", "integers", LENGTHS)
EXPORTERS = ("torchscript", "dynamo")  # torch.onnx.export(dynamo=False) and (dynamo=True)
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
class VariantTolerance:
    """How far a reduced-precision variant (int8, fp16) may move the task from the FP32 graph.

    Elementwise tolerances mean little for int8, so a variant is judged where a deployer feels it:
    on the dataset's test split, against the FP32 graph's own result. Each task reads its fields:
    classifiers ``max_accuracy_drop`` (a fraction: 0.005 is half a point) and
    ``min_argmax_agreement``; autoencoders ``max_mse_increase`` (relative to FP32's reconstruction
    MSE); generators ``max_frechet_increase`` (relative to FP32's Frechet distance, on pixels, to
    the test split).
    """

    max_accuracy_drop: float = 0.005
    min_argmax_agreement: float = 0.99
    max_mse_increase: float = 0.05
    max_frechet_increase: float = 0.10

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


# What a graph promises when its family names nothing (``OnnxGraph.variant_tolerances``): within
# half a point of accuracy (the ONNX model zoo's int8 MNIST and ResNet50 stay within 0.2 points);
# fp16, which only rounds, agrees more often and moves MSE and Frechet distance less.
VARIANT_TOLERANCES = {
    "int8": VariantTolerance(),
    "fp16": VariantTolerance(min_argmax_agreement=0.995, max_mse_increase=0.01, max_frechet_increase=0.02),
}


@dataclass(frozen=True)
class GraphInput:
    """One named graph input: an example tensor, its dynamic axes, and how to draw fresh values.

    ``distribution`` tells the verifier how to make new inputs at other batch sizes:
    ``uniform`` in [low, high), ``normal`` (standard), ``integers`` in [low, high), or ``lengths``:
    each sequence's length (int64, one per sample) for the input whose dynamic axis ``axis`` names
    time (``"time"``), drawn in [max(1, low), the axis's current length] with the first sample full
    length, so that a batch of sequences padded after their ends is what the graph sees (``high``
    records the training data's padded length; it bounds nothing).
    ``ranges`` bounds a dynamic axis, by index, inclusive: ``{1: (1, 64)}`` for a model whose positional
    table holds 64 steps. ``zoo verify`` tries other lengths only inside it (by default half the export
    length and twice it plus one), and the manifest records it for deployers. Unbounded where absent.
    """

    name: str
    example: torch.Tensor
    dynamic_axes: dict[int, str] = field(default_factory=lambda: {0: "batch"})
    distribution: str = "uniform"
    low: float = 0.0
    high: float = 1.0
    ranges: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    axis: str | None = None

    def __post_init__(self) -> None:
        if self.distribution == LENGTHS and not self.axis:
            raise ValueError(f"graph input {self.name!r}: a {LENGTHS!r} input names the axis it measures "
                             f"(axis='time')")

    def draw(self, count: int, generator: torch.Generator | None = None, value: int | None = None,
             length: int | None = None) -> torch.Tensor:
        """``count`` fresh inputs drawn as ``distribution`` says, shaped like the example but for the
        batch; ``value`` fills an ``integers`` input with one value (a generator's class label);
        ``length`` is the current length of a ``lengths`` input's axis (default: the example's longest)."""
        import torch

        shape = (count, *self.example.shape[1:])
        if self.distribution == LENGTHS:
            longest = int(self.example.max()) if length is None else int(length)
            drawn = torch.randint(min(max(1, int(self.low)), longest), longest + 1, shape, generator=generator)
            drawn[:1] = longest
            return drawn
        if self.distribution == "integers":
            if value is not None:
                return torch.full(shape, value, dtype=self.example.dtype)
            return torch.randint(int(self.low), int(self.high), shape, generator=generator)
        if self.distribution == "normal":
            return torch.randn(shape, generator=generator)
        return self.low + (self.high - self.low) * torch.rand(shape, generator=generator)


def sequence_inputs(sample_shape: Sequence[int], variable_length: bool) -> list[GraphInput]:
    """The inputs of a graph that reads sequences (``sample_shape`` (time, features)): ``input`` with dynamic
    batch and time axes, uniform in [0, 1), and for sequences of different lengths (``DataInfo.variable_length``)
    ``lengths`` (int64, one per sequence, padding after each end), drawn in [1, time]. The module is called
    ``module(input)`` or ``module(input, lengths)``."""
    import torch

    example = torch.rand(2, *sample_shape, generator=torch.Generator().manual_seed(0))
    inputs = [GraphInput("input", example, dynamic_axes={0: "batch", 1: "time"})]
    if variable_length:
        steps = int(sample_shape[0])
        lengths = torch.tensor([steps, max(1, (steps + 1) // 2)], dtype=torch.int64)
        example[1, int(lengths[1]):] = 0.0  # padded after its end, as the data is
        inputs.append(GraphInput(LENGTHS, lengths, distribution=LENGTHS, low=1, high=steps, axis="time"))
    return inputs


@dataclass
class OnnxGraph:
    """One graph to export: ``module`` called with the inputs in order, producing ``outputs``.

    ``role`` says what the graph is for (see ``ROLES``): a model exports exactly one
    ``primary`` graph, and any number of ``component`` graphs beside it. A graph that names no role is
    the primary one when it is the model's only graph, or when no other graph is primary (the first of
    them; several graphs naming no role is deprecated since contract 2.1: one warning line), and a
    component beside a declared primary graph.
    ``tolerances`` is what ONNX Runtime must meet against PyTorch in FP32 (CPU, and CUDA in
    strict mode); ``deployment_tolerances`` is the looser promise for CUDA with TF32 on.
    Outputs absent from either mapping get ``Tolerance()`` and ``Tolerance(1e-3, 1e-3)``.
    ``variant_tolerances`` is what an int8 or fp16 variant must keep on the test split against
    FP32 (``VariantTolerance``, by variant name; ``VARIANT_TOLERANCES`` where absent); only the
    primary graph's are checked, as task-level checks run on it.
    ``exporter`` names the torch.onnx exporter this graph needs (``EXPORTERS``); None lets zoo try the
    TorchScript-based one first and dynamo when the first fails or freezes a dynamic axis (a probe runs the
    graph at other sizes right after export; the manifest records which exporter made the graph and why).
    ``declined_variants`` names the variants this graph cannot have, with the reason (``{"fp16": "attention
    overflows in float16"}``): zoo does not try them, and the manifest and the card's Deployment table say why.
    A variant zoo fails to make is declined the same way, with zoo's reason; neither fails an export.
    """

    name: str
    module: torch.nn.Module
    inputs: list[GraphInput]
    outputs: list[str]
    role: str | None = None
    output_dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    deployment_tolerances: dict[str, Tolerance] = field(default_factory=dict)
    variant_tolerances: dict[str, VariantTolerance] = field(default_factory=dict)
    exporter: str | None = None
    declined_variants: dict[str, str] = field(default_factory=dict)

    def tolerance(self, output: str, deployment: bool = False) -> Tolerance:
        if deployment:
            return self.deployment_tolerances.get(output, Tolerance(1e-3, 1e-3))
        return self.tolerances.get(output, Tolerance())

    def variant_tolerance(self, variant: str) -> VariantTolerance:
        return self.variant_tolerances.get(variant, VARIANT_TOLERANCES[variant])

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """All dynamic axes by tensor name; outputs default to a dynamic batch axis."""
        axes = {i.name: dict(i.dynamic_axes) for i in self.inputs}
        for name in self.outputs:
            axes[name] = dict(self.output_dynamic_axes.get(name, {0: "batch"}))
        return axes


def other_lengths(length: int, bounds: Sequence[float | None] | None = None) -> list[int]:
    """The lengths of a dynamic non-batch axis tried beside the export length (by the exporter's probe and by
    ``zoo verify``): half and twice plus one, each moved into the axis' declared range (``GraphInput.ranges``,
    inclusive; None above: unbounded); never the export length itself. The one rule both use."""
    low, high = bounds or (1, None)
    low = int(low or 1)
    wanted = {max(1, length // 2), 2 * length + 1}
    return sorted({int(min(max(n, low), high)) if high is not None else max(n, low) for n in wanted} - {length})


class GraphRoleError(ValueError):
    """A model's graphs do not name exactly one primary graph, or use an unknown role or a name twice."""


def assign_roles(graphs: Sequence[Any]) -> str | None:
    """Give every graph that names no role its role (see ``OnnxGraph``), in place; the deprecation note
    when several graphs named none and no graph was declared primary, else None."""
    unnamed = [g for g in graphs if g.role is None]
    if not unnamed:
        return None
    declared = any(g.role == PRIMARY for g in graphs)
    for index, graph in enumerate(unnamed):
        graph.role = COMPONENT if declared or index else PRIMARY
    if declared or len(unnamed) == 1:
        return None
    return (f"graphs {', '.join(repr(g.name) for g in unnamed)} name no role; {unnamed[0].name!r} is taken as "
            f"the primary graph and the others as components (give each OnnxGraph a role; several graphs "
            f"without roles are deprecated since plugin contract 2.1, refused from 3.0)")


def check_graphs(graphs: Sequence[Any]) -> None:
    """Raise GraphRoleError unless names are unique, roles known, and exactly one graph is primary."""
    names = [g.name for g in graphs]
    if len(set(names)) != len(names):
        raise GraphRoleError(f"graph names must be unique, got {', '.join(names)}")
    for graph in graphs:
        if graph.role not in ROLES:
            raise GraphRoleError(f"graph {graph.name!r} has role {graph.role!r}; roles are {', '.join(ROLES)}")
        if getattr(graph, "exporter", None) not in (None, *EXPORTERS):
            raise GraphRoleError(f"graph {graph.name!r} asks for exporter {graph.exporter!r}; "
                                 f"exporters are {', '.join(EXPORTERS)}")
        for spec in getattr(graph, "inputs", []):
            for axis, bounds in getattr(spec, "ranges", {}).items():
                if axis not in spec.dynamic_axes or axis == 0 or len(bounds) != 2 or bounds[0] < 1 or (
                        bounds[1] is not None and bounds[1] < bounds[0]):
                    raise GraphRoleError(f"graph {graph.name!r}, input {spec.name!r}: ranges {{{axis}: "
                                         f"{tuple(bounds)}}} must bound a dynamic non-batch axis, 1 <= low <= high")
    primaries = [g.name for g in graphs if g.role == PRIMARY]
    if len(primaries) != 1:
        raise GraphRoleError(f"exactly one graph must have role {PRIMARY!r}, got {len(primaries)}"
                             + (f" ({', '.join(primaries)})" if primaries else ""))


def primary(graphs: Sequence[G]) -> G:
    """The one graph of role ``primary``: the question every module that picks a graph asks."""
    check_graphs(graphs)
    return next(g for g in graphs if g.role == PRIMARY)
