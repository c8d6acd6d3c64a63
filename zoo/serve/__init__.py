"""`zoo serve`: bundles on the Open Inference Protocol (KServe v2 / Triton REST), on Starlette and uvicorn.

The API::

    serve(bundles, host="127.0.0.1", port=8000, *, public_key=None, options=ServeOptions(), loader=None)
    ServerThread(bundles, ...)           # the same server in a thread of this process (tests, benchmarks)
    ServeOptions(max_batch_size=64, batching=True, max_queue_delay_ms=0, workers=2, max_body_bytes=16 MiB,
                 graceful_timeout_s=30, http="httptools", loop="asyncio")
    ServableModel, TensorSpec            # what the server needs from a loaded model (zoo.serve.model)
    load_bundle_model(path, public_key=None, threads=1)  # today's bundle -> ServableModel (zoo.serve.bundle_model)

Modules, each with one job: ``model`` (the model protocol and shared tensor facts), ``bundle_model`` (the
one adapter from a bundle), ``tensors`` (request and response bodies), ``answers`` (a classifier's
probabilities, label and top-k), ``batching``, ``metrics``, ``app`` (the endpoints), ``server`` (uvicorn).
Nothing here imports torch. Of zoo, it imports ``zoo.errors``, ``zoo.__version__`` (the server's version, in
``app``) and, only in ``bundle_model``, ``zoo.bundle`` (and ``zoo.bundle.signing`` with a public key).
"""
from __future__ import annotations

from zoo.serve.app import ServeError, ServeOptions
from zoo.serve.bundle_model import load_bundle_model
from zoo.serve.model import ServableModel, TensorSpec
from zoo.serve.server import ServerThread, serve

__all__ = ["ServableModel", "ServeError", "ServeOptions", "ServerThread", "TensorSpec", "load_bundle_model",
           "serve"]

