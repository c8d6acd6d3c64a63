"""`zoo predict`: run a bundle on the user's arrays with onnxruntime and numpy alone.

This is the deployer's path: it must work where torch is not installed, so it imports
only numpy, onnxruntime and zoo.bundle (itself numpy-only), and, with ``public_key``, the
signature checker (model-signing, which imports no torch either). A test runs it with torch
made unimportable. A graph that onnxruntime will not load or run is one ``BundleError``
(one ``error:`` line, exit 2), never a traceback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.bundle import (Bundle, BundleError, Graph, SessionError, lengths_inputs, load_arrays, open_bundle,
                        with_full_lengths)
from zoo.errors import one_line


def read_inputs(graph: Graph, path: Path) -> dict[str, np.ndarray]:
    """An .npy feeds a one-input graph; an .npz names its arrays after the graph's inputs. A graph's ``lengths``
    input may be left out: every sequence is then read to the end of its array."""
    arrays = load_arrays(path)
    if "" in arrays:
        fed = [i for i in graph.inputs if i["name"] not in lengths_inputs(graph.inputs)]
        if len(fed) != 1:
            names = ", ".join(i["name"] for i in graph.inputs)
            raise BundleError(f"graph {graph.name!r} takes {len(graph.inputs)} inputs ({names}); "
                              f"give an .npz with one array per input")
        arrays = {fed[0]["name"]: arrays[""]}
    return graph.check_inputs(with_full_lengths(graph.inputs, arrays))


def predict(bundle: str | Path | Bundle, input_path: str | Path, graph_name: str | None = None,
            variant: str | None = None, public_key: str | Path | None = None) -> dict[str, np.ndarray]:
    """The graph's outputs for the arrays in ``input_path``, after the bundle's checksums pass.

    ``bundle``: its folder, or a ``Bundle`` already opened (and its signature checked) by the caller,
    as ``zoo.hub.index.bundle_or_name`` does for a model name: nothing is hashed twice.
    ``variant``: run that precision of the graph (``int8``, ``fp16``; default FP32).
    ``public_key``: first check the bundle's signature with it; nothing else is read before that passes.
    """
    if not isinstance(bundle, Bundle):
        if public_key is not None:
            from zoo.bundle.signing import verify_signature

            verify_signature(bundle, public_key)
        bundle = open_bundle(bundle)
    graph = bundle.graph(graph_name).variant(variant)
    inputs = read_inputs(graph, Path(input_path))
    try:
        session = graph.session()
    except SessionError as exc:
        raise BundleError(f"{graph.path}: onnxruntime cannot load graph {graph.name!r} ({exc.reason})") from None
    try:
        return graph.run(session, inputs)
    except Exception as exc:
        raise BundleError(f"{graph.path}: onnxruntime failed to run graph {graph.name!r} ({one_line(exc)})") from None


def save_outputs(outputs: dict[str, np.ndarray], path: str | Path) -> None:
    """An .npy for one output, else an .npz of all of them by name."""
    path = Path(path)
    if path.suffix == ".npy":
        if len(outputs) != 1:
            raise BundleError(f"{path}: the graph has {len(outputs)} outputs; write an .npz instead")
        np.save(path, next(iter(outputs.values())))
    else:
        np.savez(path, **outputs)
