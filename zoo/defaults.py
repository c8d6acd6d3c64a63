"""The core's own hook implementations, tried after every plugin's (``trylast``)."""
from __future__ import annotations

from typing import Any

from zoo import hookimpl


@hookimpl(trylast=True)
def zoo_onnx_graphs(spec, model, info, config) -> list[Any]:
    """One graph, ``model``, with input ``input`` of shape (batch, *sample_shape) in [0, 1)."""
    import torch

    from zoo.graphs import GraphInput, OnnxGraph

    example = torch.rand(2, *info.sample_shape, generator=torch.Generator().manual_seed(0))
    return [OnnxGraph(name="model", module=model, inputs=[GraphInput("input", example)], outputs=["output"])]
