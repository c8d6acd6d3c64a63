"""`zoo deploy kserve`: the KServe ``InferenceService`` that serves a Triton model repository on Kubernetes.

The repository is what ``zoo deploy triton`` writes, uploaded by the user to ``storage_uri`` (``s3://``,
``gs://``, ``pvc://`` ...). KServe's storage initializer copies it to ``/mnt/models``, and its
``kserve-tritonserver`` runtime (the one KServe picks for ``modelFormat: onnx`` with ``protocolVersion: v2``)
starts ``tritonserver --model-store=/mnt/models``, which loads every model there and answers the Open
Inference Protocol, as ``zoo serve`` does.

Imports PyYAML, ``zoo.fsutil`` and ``zoo.errors``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from zoo.deploy.triton import DeployError
from zoo.fsutil import atomic_write_bytes

API_VERSION = "serving.kserve.io/v1beta1"
RUNTIME = "kserve-tritonserver"
# Kubernetes names an InferenceService's resources after it: a DNS-1035 label, lowercase, at most 63 characters
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
STORAGE = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def inference_service(name: str, storage_uri: str, *, runtime: str = RUNTIME, cpu: str = "1",
                      memory: str = "1Gi", min_replicas: int = 1) -> dict[str, Any]:
    """The ``InferenceService`` resource as a mapping (``write_inference_service`` writes it as YAML)."""
    if not NAME.match(name):
        raise DeployError(f"InferenceService name {name!r} must be a DNS-1035 label: lowercase letters, digits "
                          f"and '-', starting with a letter, at most 63 characters")
    if not STORAGE.match(storage_uri):
        raise DeployError(f"storage URI {storage_uri!r} must name a location KServe downloads from, with its "
                          f"scheme (s3://, gs://, pvc://, https:// ...)")
    if not isinstance(min_replicas, int) or min_replicas < 0:
        raise DeployError(f"min_replicas must be a whole number >= 0, got {min_replicas!r}")
    resources = {"cpu": str(cpu), "memory": str(memory)}
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "zoo"}},
        "spec": {"predictor": {
            "minReplicas": min_replicas,
            "model": {
                "modelFormat": {"name": "onnx"},
                "protocolVersion": "v2",
                "runtime": runtime,
                "storageUri": storage_uri,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
            },
        }},
    }


def write_inference_service(path: str | Path, name: str, storage_uri: str, *, force: bool = False,
                            **settings: Any) -> Path:
    """Write the ``InferenceService`` YAML to ``path`` (atomically; an existing file only with ``force``)."""
    path = Path(path)
    if path.exists() and not force:
        raise DeployError(f"{path}: already exists; use force to replace")
    document = inference_service(name, storage_uri, **settings)
    header = (f"# Written by zoo deploy kserve: serves the Triton model repository at {storage_uri}\n"
              f"# (zoo deploy triton writes one) with KServe's {document['spec']['predictor']['model']['runtime']} "
              f"runtime, Open Inference Protocol v2.\n")
    atomic_write_bytes(path, (header + yaml.safe_dump(document, sort_keys=False)).encode())
    return path
