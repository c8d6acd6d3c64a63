"""The core's own hook implementations, tried after every plugin's (``trylast``).

They make the common case free: a classifier family needs only ``zoo_models`` and
``zoo_build``; training, evaluation and export then follow the core's recipes.
"""
from __future__ import annotations

from typing import Any

from zoo import hookimpl


@hookimpl(trylast=True)
def zoo_train(spec, model, data, config, context):
    """Classifiers: cross-entropy with AdamW and cosine decay (``zoo.recipes.train_classifier``)."""
    if spec.task != "classification":
        return None
    from zoo.recipes import train_classifier

    return train_classifier(model, data, config, context)


@hookimpl(trylast=True)
def zoo_evaluate(spec, model, data, config):
    """Classifiers: accuracy, macro scores, confusion matrix, per-class results, bootstrap intervals."""
    if spec.task != "classification":
        return None
    from zoo.recipes import evaluate_classifier

    return evaluate_classifier(model, data)


@hookimpl(trylast=True)
def zoo_onnx_graphs(spec, model, info, config) -> list[Any]:
    """One graph, ``model``, with input ``input`` of shape (batch, *sample_shape) in [0, 1). Sequences of different
    lengths are read as training reads them (``model(x, lengths)``, ``zoo.recipes``): the time axis is dynamic and
    the ``lengths`` input follows (``zoo.graphs.sequence_inputs``). Sequences of one length keep it fixed, so a
    model that cannot read other lengths (a flattening layer) still exports."""
    import torch

    from zoo.graphs import GraphInput, OnnxGraph, sequence_inputs

    if info.layout == "sequence" and info.variable_length:
        inputs = sequence_inputs(info.sample_shape, info.variable_length)
    else:
        inputs = [GraphInput("input", torch.rand(2, *info.sample_shape, generator=torch.Generator().manual_seed(0)))]
    return [OnnxGraph(name="model", module=model, inputs=inputs, outputs=["output"])]
