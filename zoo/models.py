"""A model by its spec: built by its plugin, trained weights loaded, graphs named, evaluated.

The plumbing every layer above needs (assessments, bundles, cards, the hub, the API): ``build`` a
network for a spec and its data, the ``onnx_graphs`` its plugin exports (checked, in eval mode),
``load_trained`` a run's network with its weights and data, ``evaluate_model`` on the test split, and
``reference_outputs``, PyTorch's answers that ONNX Runtime is held to. Imports the plugin host
(``zoo.plugins``, ``zoo.registry``), the training options (``zoo.options.privacy``) and layers below.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from zoo import runs
from zoo.data import Data, DataInfo, load_data
from zoo.errors import ZooError, deprecated, warn
from zoo.graphs import GraphRoleError, OnnxGraph, assign_roles, check_graphs
from zoo.options import privacy
from zoo.plugins import PluginError, call_model_hook
from zoo.registry import get_dataset, get_model
from zoo.specs import ModelSpec


def load_model_data(spec: ModelSpec, path: str | Path | None = None,
                    options: Mapping[str, Any] | None = None) -> Data:
    """The model's own dataset, or the user's data at ``path`` read the same way; ``options``: a run's config,
    whose data-reading keys (``zoo.config.DATA_KEYS``: image size, colour mode ...) say how files are read."""
    return load_data(get_dataset(spec.dataset), spec.requires_labels, path, options)


def build_plain(spec: ModelSpec, config: Mapping[str, Any], info: DataInfo) -> torch.nn.Module:
    torch.manual_seed(int(config["seed"]))
    return call_model_hook("zoo_build", spec, config=dict(config), info=info)


def build_recorded(spec: ModelSpec, config: Mapping[str, Any], info: DataInfo) -> tuple[torch.nn.Module, list[str]]:
    """``build``, and the layers changed for differential privacy (none unless the config is private)."""
    model = build_plain(spec, config, info)
    return privacy.compatible(model) if privacy.is_private(config) else (model, [])


def build(spec: ModelSpec, config: Mapping[str, Any], info: DataInfo) -> torch.nn.Module:
    """A fresh model for ``spec``, initialised from ``config['seed']``; for a private config, the network
    Opacus trains (``zoo.options.privacy.compatible``: GroupNorm for BatchNorm), so that a private run's weights
    load into what export, evaluation and cards build."""
    return build_recorded(spec, config, info)[0]


def dataset_info(spec: ModelSpec) -> DataInfo:
    """What the model's own dataset declares, without loading it: enough to build the network."""
    dataset = get_dataset(spec.dataset)
    return DataInfo(dataset.name, dataset.layout, tuple(dataset.sample_shape), dataset.num_classes)


def build_default(spec: ModelSpec) -> torch.nn.Module:
    """The model as its default config builds it for its own dataset (no data loaded): what ``zoo info``
    inspects."""
    return build(spec, spec.default_config, dataset_info(spec))


def onnx_graphs(spec: ModelSpec, model: torch.nn.Module, info: DataInfo, config: Mapping[str, Any]) -> list[OnnxGraph]:
    """The graphs the model's plugin exports, checked: unique names, exactly one ``primary`` (roles not
    named are assigned, with a deprecation warning where the plugin left it ambiguous)."""
    graphs = call_model_hook("zoo_onnx_graphs", spec, model=model, info=info, config=dict(config))
    try:
        note = assign_roles(graphs)
        if note:
            deprecated(f"plugin {spec.plugin!r}, zoo_onnx_graphs for {spec.name!r}: {note}")
        check_graphs(graphs)
    except GraphRoleError as exc:
        raise PluginError(f"plugin {spec.plugin!r}, zoo_onnx_graphs for {spec.name!r}: {exc}") from None
    for graph in graphs:  # a plugin's fresh wrapper module starts in training mode: dropout would corrupt
        graph.module.eval()  # the export and the reference outputs it is held to
    return graphs


def evaluate_model(spec: ModelSpec, model: torch.nn.Module, data: Data, config: Mapping[str, Any]) -> dict[str, Any]:
    """The family's own evaluation on the test split, in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return call_model_hook("zoo_evaluate", spec, model=model, data=data, config=dict(config))


def check_same_data(run: runs.Run, data: Data) -> None:
    """Refuse to resume or evaluate a run on data other than what it was trained on."""
    if data.sha256 != run.record["data"]["sha256"]:
        where = run.data_path or run.record["data"]["name"]
        raise ZooError(f"the data of {run.path} changed since it was trained ({where})")


def completed_config(spec: ModelSpec, config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A stored config (a run's, a bundle's) completed from the model's current defaults: a key its plugin
    added since ``where`` was trained takes its current default, and a warning line says which."""
    filled = {key: value for key, value in spec.default_config.items() if key not in config}
    if filled:
        said = ", ".join(f"{key}={value!r}" for key, value in filled.items())
        warn(f"{where} was trained before model {spec.name!r} had config key{'s' if len(filled) > 1 else ''} "
             f"{', '.join(map(repr, filled))}; using {'their' if len(filled) > 1 else 'its'} current "
             f"default{'s' if len(filled) > 1 else ''} ({said})")
    return {**filled, **config}


def load_trained(run: str | Path | runs.Run) -> tuple[ModelSpec, torch.nn.Module, Data, dict[str, Any], runs.Run]:
    """A run's model with its trained weights, and the data it was trained on (checked unchanged)."""
    run = run if isinstance(run, runs.Run) else runs.open_run(run)
    spec = get_model(run.model)
    data = load_model_data(spec, run.data_path, run.config)  # read as the run read it (its image size ...)
    check_same_data(run, data)
    config = completed_config(spec, run.config, f"run {runs.run_id(run.path)}")
    model = build(spec, config, data.info)
    run.load_weights(model)
    model.eval()
    return spec, model, data, config, run




@contextlib.contextmanager
def inference_mode(module: torch.nn.Module) -> Iterator[None]:
    """``module`` as it is deployed: every submodule in eval mode (no dropout, batch-norm statistics frozen),
    without the fused fast path of ``nn.TransformerEncoderLayer``/``nn.MultiheadAttention``
    (``aten::_transformer_encoder_layer_fwd``, which the TorchScript-based exporter cannot export), and without
    autograd. Everything is restored afterwards: a plugin's module is left as it was handed over. The fast
    and the plain path agree to float rounding; exports and test vectors both use the plain one."""
    modes = [(m, m.training) for m in module.modules()]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    module.eval()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for child, training in modes:
            child.training = training


def reference_outputs(graph: OnnxGraph, inputs: list[torch.Tensor]) -> dict[str, np.ndarray]:
    """PyTorch's answers for ``inputs``, by output name: what the exported graph is held to (the module as
    exported: ``inference_mode``)."""
    with inference_mode(graph.module):
        result = graph.module(*inputs)
    result = result if isinstance(result, (tuple, list)) else (result,)
    return {name: t.detach().cpu().numpy() for name, t in zip(graph.outputs, result)}
