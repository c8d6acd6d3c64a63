"""Assessments: measured explainability and safety, the types a plugin uses to add its own.

An assessment is one measurement of a trained model on its data (calibration, robustness, the
faithfulness of an attribution method, ...), returned by the ``zoo_assessments`` hook. Every
plugin's answer is collected for every model, so a plugin may add an assessment to a model it
does not own; the core's answers (``zoo.assess.builtin``) are the defaults for each task.

An assessment's ``measure`` receives a ``Context`` and returns a ``Result``: a one-sentence
summary computed from its numbers, the numbers themselves, tables and figures. zoo runs it,
times it, adds the provenance (run, split, seed, weights) and stores it in the run directory
(``zoo.assess.runner``); the card shows it in the section it names.

Measurements must be deterministic: draw randomness only from ``Context.generator()`` and
``Context.rng()``, and size every sample with ``Context.count`` so that a smaller budget
(``zoo assess --budget``) scales the work and is recorded.

Layers: this module is plugin API and imports only ``zoo.specs``. The core's own assessments
(``explain``, ``safety``) are written as a plugin would write them: they import only ``zoo.PLUGIN_API``
modules (and their own package's modules, relatively), and get the exported graphs and the untrained
network from the ``Context``. ``runner`` (the plugin host's side: collect, isolate, store) and
``builtin`` are internal and may import the plugin host and ``zoo.models``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from zoo.specs import NAME_PATTERN

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from zoo.data import Data
    from zoo.graphs import OnnxGraph
    from zoo.specs import ModelSpec

SECTIONS = ("explainability", "safety")
BUDGET_RANGE = (0.01, 10.0)  # the budgets zoo assess and ZOO_ASSESS_BUDGET accept


@dataclass(frozen=True)
class Table:
    """A small table for the card: headers, rows of cells (numbers or text), and what it shows."""

    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG an assessment drew with ``Context.figure``: its file name and a caption saying what it shows."""

    file: str
    caption: str


@dataclass
class Result:
    """What an assessment found.

    ``summary`` leads the card's entry: one or two sentences computed from ``values`` (never typed
    in); ``values`` are JSON numbers (and small lists/dicts) a machine may read; ``method`` says how
    it was measured and with what (library, paper), for the card's reader.
    """

    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    method: str = ""


def _not_given(what: str) -> Callable[[], Any]:
    def missing() -> Any:
        raise TypeError(f"this Context was made without '{what}' (zoo.assess.runner.make_context gives it)")
    return missing


@dataclass
class Context:
    """Everything an assessment may use: the trained model (eval mode, CPU) and its data.

    ``data`` holds the train, validation and test splits the run used; results are measured on
    the test split unless an assessment says otherwise (calibration fits on validation).
    """

    spec: ModelSpec
    model: torch.nn.Module
    data: Data
    config: dict[str, Any]
    seed: int
    budget: float
    folder: Path
    prefix: str = ""
    graphs: Callable[[], list[OnnxGraph]] = field(default_factory=lambda: _not_given("graphs"), repr=False)
    """The graphs the model's plugin exports (``zoo_onnx_graphs``, checked: exactly one primary), sharing
    the trained model's modules: what a deployer runs. ``zoo.graphs.primary(ctx.graphs())`` picks the main one."""
    untrained: Callable[[], torch.nn.Module] = field(default_factory=lambda: _not_given("untrained"), repr=False)
    """The same network built afresh from the run's seed and config, untrained, in eval mode: the control an
    explanation is compared with (does it show what the model learnt, or only the architecture?)."""

    def count(self, default: int, minimum: int = 1) -> int:
        """How many samples (steps, draws) to use: ``default`` scaled by the budget, at least ``minimum``."""
        return max(minimum, int(round(default * self.budget)))

    def generator(self, offset: int = 0) -> torch.Generator:
        """A torch generator seeded from the run's seed (plus ``offset`` for independent streams)."""
        import torch

        return torch.Generator().manual_seed(self.seed + offset)

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A numpy generator seeded from the run's seed (plus ``offset``)."""
        import numpy as np

        return np.random.default_rng(self.seed + offset)

    def figure(self, name: str) -> Path:
        """Where to save the figure ``name`` (PNG); pass ``path.name`` as ``Figure.file``."""
        return self.folder / f"{self.prefix}{name}.png"


@dataclass(frozen=True)
class Assessment:
    """One measurement a plugin offers for a model (``zoo_assessments``).

    ``name`` is unique among a model's assessments (a plugin's duplicate is refused),
    ``section`` is ``explainability`` or ``safety``, ``title`` heads its entry in the card,
    ``measure`` does the work.
    """

    name: str
    section: str
    title: str
    measure: Callable[[Context], Result]

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it can run)."""
        found = []
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            found.append(f"assessment name {self.name!r} must match {NAME_PATTERN.pattern}")
        if self.section not in SECTIONS:
            found.append(f"assessment {self.name!r}: section must be one of {', '.join(SECTIONS)}, not {self.section!r}")
        if not callable(self.measure):
            found.append(f"assessment {self.name!r}: measure is not callable")
        return found
