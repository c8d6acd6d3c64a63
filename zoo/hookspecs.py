"""The plugin contract: every hook a zoo plugin may implement, in one place.

A plugin is a module (or object) registered under the entry-point group ``zoo.plugins``
whose functions are decorated with ``zoo.hookimpl`` and named after the hooks below.
Built-in families use exactly this contract; nothing else is open to them.

Two kinds of hook:

* Registration hooks (``zoo_models``, ``zoo_datasets``) are called on every plugin and
  their lists concatenated. A model or dataset name must be unique across plugins.
* ``zoo_assessments`` is called on every plugin for every model: any plugin may add a
  measurement to any model's card; the core's answers are the defaults for each task.
* Per-model hooks (``zoo_build``, ``zoo_train``, ``zoo_evaluate``, ``zoo_onnx_graphs``,
  ``zoo_model_card``) are answered by the plugin that declared the model, and by nobody
  else: the core calls the owner's implementation, then its own ``trylast`` default where
  the owner returns None or implements nothing (``zoo.defaults``). No implementation needs
  to check whose model it was given. Wrappers (``@hookimpl(wrapper=True)``) of every plugin
  still run around the call, so a tracker can wrap every model's ``zoo_train``.

A plugin may import only the modules in ``zoo.PLUGIN_API``; to reuse another family's
networks or steps, import that plugin's own modules (``from zoo_cnn.models import DigitsCNN``).

Torch may be imported inside hook bodies, never at a plugin's module top level:
``zoo list`` loads every plugin and must stay fast.

The contract has a version (``CONTRACT_VERSION``, major.minor). A minor version only adds; a change that
would break existing plugins first warns for at least one minor version (``zoo.errors.ContractWarning``,
one ``warning:`` line naming what to change) and breaks only at the next major version. A plugin that
needs a newer contract says so at import with ``require_contract("2.1")``: on an older zoo it is then
reported as broken with the reason, instead of failing later in a hook. The README's "Changes for plugin
authors" lists every version.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - names for the annotations only
    import torch

    from zoo.assess import Assessment
    from zoo.data import Data, DataInfo
    from zoo.graphs import OnnxGraph
    from zoo.specs import DatasetSpec, ModelSpec
    from zoo.training import TrainContext

CONTRACT_VERSION = (2, 2)


class ContractVersionError(RuntimeError):
    """A plugin needs a newer plugin contract than this zoo offers."""


def require_contract(minimum: str) -> None:
    """Raise ``ContractVersionError`` unless this zoo's contract is at least ``minimum`` (``"2.1"``), or has
    another major version (a major version may drop what the plugin was written against)."""
    try:
        wanted = tuple(int(part) for part in minimum.split("."))
    except (AttributeError, ValueError):
        raise ValueError(f"require_contract({minimum!r}): give a version like '2.1'") from None
    have = ".".join(map(str, CONTRACT_VERSION))
    if wanted[0] != CONTRACT_VERSION[0] or wanted > CONTRACT_VERSION:
        raise ContractVersionError(f"needs plugin contract {minimum}, this zoo offers {have}"
                                   + (" (upgrade zoo)" if wanted > CONTRACT_VERSION else ""))


PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)  # plugins use it as ``from zoo import hookimpl``


@hookspec
def zoo_models() -> list[ModelSpec]:
    """Return the models this plugin provides (metadata only; must not import torch).

    Results from all plugins are concatenated. A model name must be unique across
    all installed plugins. Each spec is checked here (``ModelSpec.validate``): its
    ``default_config`` holds ``epochs``, ``batch_size``, ``lr`` and ``seed``; a plugin returning a
    spec that breaks this is ``broken`` and left out. Every key the core does not describe
    (``zoo.config.CORE_KEYS``) should have a line in ``config_help``: a key without one is deprecated
    since contract 2.1 (one warning line naming the keys; ``zoo info`` shows no description) and will
    be refused in contract 3.
    """


@hookspec
def zoo_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin ships (loaded lazily through ``DatasetSpec.load``)."""


@hookspec(firstresult=True)
def zoo_build(spec: ModelSpec, config: dict[str, Any], info: DataInfo) -> torch.nn.Module | None:
    """Build the untrained ``nn.Module`` for ``spec`` sized for the data described by ``info``.

    ``config`` is the resolved configuration (defaults with the user's overrides). A family
    with several networks (a GAN) returns one container module holding them as children,
    so that one state dict holds the whole model.
    """


@hookspec(firstresult=True)
def zoo_train(
    spec: ModelSpec, model: torch.nn.Module, data: Data, config: dict[str, Any], context: TrainContext
) -> list[dict[str, Any]] | None:
    """Train ``model`` in place on ``data.train`` (validating on ``data.val``); return the history.

    ``context`` carries the progress display, checkpointing, resume state and the
    distributed world; ``zoo.training.fit`` runs a complete loop on top of it given the
    family's optimisers and step function, and is what the built-in families use.
    The history is one dict per epoch (``epoch``, losses, validation metrics).
    The core's default (tried last) trains any ``classification`` model with
    ``zoo.recipes.train_classifier``.
    """


@hookspec(firstresult=True)
def zoo_evaluate(
    spec: ModelSpec, model: torch.nn.Module, data: Data, config: dict[str, Any]
) -> dict[str, Any] | None:
    """Measure ``model`` on ``data.test`` and return metric name -> JSON-serialisable value.

    Must be deterministic for a given model, data and config (seed any sampling from
    ``config['seed']``): ``zoo evaluate`` re-runs it and expects the same numbers.
    The core's default (tried last) evaluates any ``classification`` model with
    ``zoo.recipes.evaluate_classifier`` (``zoo.metrics.classification_metrics``).
    """


@hookspec(firstresult=True)
def zoo_onnx_graphs(
    spec: ModelSpec, model: torch.nn.Module, info: DataInfo, config: dict[str, Any]
) -> list[OnnxGraph] | None:
    """Return the graphs to export for ``model`` (see ``zoo.graphs.OnnxGraph``).

    Exactly one graph has role ``primary`` (the default): the one a deployer runs and the
    task-level checks use; any others are ``component`` graphs (an encoder, a decoder).
    Names are unique. The core's own implementation (tried last) exports the whole model
    as one graph with one input shaped ``(batch, *info.sample_shape)``, and for sequences of
    different lengths a dynamic time axis and a ``lengths`` input (``zoo.graphs.sequence_inputs``:
    the model is called ``model(x, lengths)``, as in training); implement this hook for several
    graphs, other inputs, a dynamic time axis for sequences of one length, or looser tolerances.

    A graph also declares what its int8 and fp16 variants (``zoo export --variants``) must keep
    on the test split against FP32 (``OnnxGraph.variant_tolerances``: accuracy drop and argmax
    agreement, reconstruction-MSE increase or Frechet-distance increase, by task); where it names
    none, the core's ``zoo.graphs.VARIANT_TOLERANCES`` apply. ``zoo verify`` fails a variant
    beyond them.
    """


@hookspec(firstresult=True)
def zoo_model_card(spec: ModelSpec) -> dict[str, Any] | None:
    """Return the static, hand-written parts of the model card for ``spec``.

    Required keys (``zoo.cards.schema.STATIC_SCHEMA``, checked by ``zoo card`` and reported by ``zoo plugins``
    before anything is trained), all plain text:

    * ``description``, ``intended_use``, ``out_of_scope_use``, ``explainability``, ``limitations``;
    * ``data_notes``: a mapping merged over the dataset's own (``DatasetSpec.source``, ``license`` and its
      ``notes``, ``zoo.specs.DATASET_NOTES``); after the merge the card needs ``source``, ``license``,
      ``collection``, ``preprocessing``, ``known_gaps`` and ``biases``: write here what your family adds;
    * ``safety``: ``risks`` and ``misuse`` (yours); ``weights`` comes from the core, ``training_data`` from the
      dataset's ``privacy`` note (write it here when the dataset has none).

    Optional: ``license`` (the model's licence, a Hugging Face licence id such as ``mit`` or ``apache-2.0``;
    without it the card says "not declared", never zoo's own) and ``factors``. Numbers never go here: the
    core measures them.
    """


@hookspec
def zoo_assessments(spec: ModelSpec) -> list[Assessment] | None:
    """Return the assessments this plugin adds to ``spec`` (``zoo.assess.Assessment``), or None.

    Called on every plugin for every model, and every answer is kept (not firstresult): a
    plugin may measure models it does not own. The core answers for each task (calibration,
    robustness, out-of-distribution detection, attributions, ... in ``zoo.assess.builtin``).
    Names must be unique per model; a plugin whose hook raises, or returns a duplicate, is
    reported in the assessment results and left out, and the other assessments still run.
    Keep this hook cheap (no torch at call time): the work happens in ``Assessment.measure``.
    """
