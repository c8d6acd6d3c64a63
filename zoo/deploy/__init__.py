"""`zoo deploy`: files that put bundles on the engines that serve models at scale.

    triton.write_repository(bundles, out, *, force=False, options=TritonOptions()) -> list[Path]
    triton.model_config(name, inputs, outputs, options=TritonOptions()) -> str   # one config.pbtxt
    triton.graph_tensors(graph) -> (inputs, outputs)                       # as ONNX Runtime loads them
    kserve.write_inference_service(path, name, storage_uri, *, force=False, runtime=..., cpu=..., memory=...,
                                   min_replicas=...) -> Path
    kserve.inference_service(name, storage_uri, ...) -> dict                # the resource itself

Nothing here runs Triton or talks to Kubernetes; the tests parse every config with Triton's own
``ModelConfig`` message and the YAML with PyYAML. Layer "publish | distributed | deploy" (pyproject's import-linter
contract): imports ``zoo.bundle``, ``zoo.serve.model``, ``zoo.specs``, ``zoo.fsutil`` and ``zoo.errors``, all
below it; never torch.
"""
from __future__ import annotations

from zoo.deploy.kserve import inference_service, write_inference_service
from zoo.deploy.triton import DeployError, TritonOptions, model_config, write_repository

__all__ = ["DeployError", "TritonOptions", "inference_service", "model_config", "write_inference_service",
           "write_repository"]
