"""The Open Inference Protocol (KServe v2 / Triton REST) as a Starlette application over ``ServableModel`` s.

Endpoints: ``GET /v2/health/live``, ``GET /v2/health/ready`` (200 once every model is loaded, 503 before),
``GET /v2`` (server metadata), ``GET /v2/models/{name}[/versions/{version}]`` (model metadata),
``GET .../ready``, ``POST .../infer``, and ``GET /metrics`` (Prometheus). Every error is ``{"error": "..."}``:
400 for a bad request, 404 for an unknown model, version or path, 413 for a body over the limit, 503 while a
model loads, 500 only for a failure of the server itself (logged as one line; the server keeps serving).

Models load in a background thread after the server starts listening, so liveness answers at once and
readiness says when loading is done; a model that fails to load stops the server (``on_failure``).

Imports starlette, numpy and ``zoo.serve``'s own modules (and ``zoo.errors``); the models arrive through
``loader``, so this module never touches bundles.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from zoo import __version__
from zoo.errors import ZooError, one_line
from zoo.serve import answers
from zoo.serve.batching import Batcher, Runner
from zoo.serve.metrics import UNKNOWN_MODEL, Metrics
from zoo.serve.model import ServableModel, TensorSpec, batch_axis, datatype
from zoo.serve.tensors import (HEADER_LENGTH, JSON_TYPE, InferRequest, RequestError, encode_response, error_body,
                               parse_request)

log = logging.getLogger("zoo.serve")
EXTENSIONS = ["binary_tensor_data", "classification"]
HTTP_PARSERS, EVENT_LOOPS = ("httptools", "h11"), ("asyncio", "uvloop")  # uvloop: not a dependency; install it


class ServeError(ZooError):
    """The server cannot start: a bad option, a port it cannot bind, two models of one name."""


@dataclass(frozen=True)
class ServeOptions:
    """How the server runs. Sizes in rows and bytes, times in milliseconds and seconds.

    ``max_batch_size``: the most rows one request may carry along the batch axis (more is a 400), and the
    most rows batching stacks into one run. ``batching``: stack requests that arrive together (see
    ``zoo.serve.batching``); on by default, as measured by ``benchmarks/serve.py`` on 2 shared cores: with no
    wait it adds 0.02-0.11 ms to a lone request's p50 (one more hop through the event loop), and at concurrency
    8 and 32 it served more requests per second in 7 of 8 rows (median rounds +10% to +93%; the eighth,
    cnn-digits JSON at 32, -7% median and +19% best round). ``max_queue_delay_ms``: how long a batch may wait
    for company (0: never; 1 ms cut concurrency-1 throughput to about 550/s and gained nothing at 8 or 32).
    ``workers``: threads running ONNX Runtime. ``max_body_bytes``: the largest request body (413 above).
    ``graceful_timeout_s``: how long SIGTERM waits for requests in flight before cancelling them.
    ``http``, ``loop``: uvicorn's HTTP parser and event loop (``benchmarks/serve.py --stacks``: httptools served
    about 12% more requests than h11 at concurrency 1 and 32% more at 32; uvloop gained nothing steady).
    """

    max_batch_size: int = 64
    batching: bool = True
    max_queue_delay_ms: float = 0.0
    workers: int = 2
    max_body_bytes: int = 16 * 2**20
    graceful_timeout_s: float = 30.0
    http: str = "httptools"
    loop: str = "asyncio"

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "workers", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ServeError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("max_queue_delay_ms", "graceful_timeout_s"):
            if not getattr(self, name) >= 0:
                raise ServeError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name, known in (("http", HTTP_PARSERS), ("loop", EVENT_LOOPS)):
            if getattr(self, name) not in known:
                raise ServeError(f"{name} must be one of {', '.join(known)}, got {getattr(self, name)!r}")


class Served:
    """One loaded model with its runner, its full output list (graph and task outputs) and its batch axis."""

    def __init__(self, model: ServableModel, runner: Runner | Batcher, batch: str | None) -> None:
        self.model, self.runner, self.batch = model, runner, batch
        self.outputs: list[TensorSpec] = [*model.outputs, *answers.task_outputs(model)]
        self.output_names = [spec.name for spec in self.outputs]
        self.input_specs = {spec.name: spec for spec in model.inputs}

    def feeds(self, parsed: InferRequest, max_batch_size: int) -> tuple[dict[str, np.ndarray], int]:
        """The request's inputs checked against the model (names, datatypes, then the model's own ``check``),
        and its rows along the batch axis (1 for a model without one)."""
        feeds = {}
        for tensor in parsed.inputs:
            spec = self.input_specs.get(tensor.name)
            if spec is None:
                raise RequestError(f"model {self.model.name!r} has no input {tensor.name!r} "
                                   f"(it takes {', '.join(self.input_specs)})")
            if tensor.array.dtype != spec.dtype:
                raise RequestError(f"input {tensor.name!r} of model {self.model.name!r} is {spec.datatype}, "
                                   f"the request sent {datatype(tensor.array.dtype)}")
            if tensor.name in feeds:
                raise RequestError(f"input {tensor.name!r} is given twice")
            feeds[tensor.name] = tensor.array
        feeds = self.model.check(feeds)
        if self.batch is None:
            return feeds, 1
        rows = next(iter(feeds.values())).shape[0]
        if rows > max_batch_size:
            raise RequestError(f"a batch of {rows} rows is over this server's max batch size of {max_batch_size}")
        return feeds, rows

    def wanted(self, parsed: InferRequest) -> list[tuple[str, bool, int]]:
        """The outputs to answer with, as (name, binary, top-k classes or 0): those asked for, else every one."""
        if parsed.outputs is None:
            return [(name, parsed.binary_default, 0) for name in self.output_names]
        for requested in parsed.outputs:
            if requested.name not in self.output_names:
                raise RequestError(f"model {self.model.name!r} has no output {requested.name!r} "
                                   f"(it has {', '.join(self.output_names)})")
            if requested.classification and not answers.ranks_classes(self.model, requested.name):
                raise RequestError(f"output {requested.name!r} of model {self.model.name!r} holds no class scores "
                                   f"to rank (classification applies to a classifier's logits or probabilities)")
        return [(r.name, r.binary, r.classification) for r in parsed.outputs]

    def metadata(self) -> dict[str, Any]:
        tensor = lambda s: {"name": s.name, "datatype": s.datatype, "shape": s.protocol_shape}  # noqa: E731
        return {"name": self.model.name, "versions": [self.model.version], "platform": self.model.platform,
                "inputs": [tensor(s) for s in self.model.inputs], "outputs": [tensor(s) for s in self.outputs]}


class InferenceApp:
    """The server's state (models, metrics, readiness) and its endpoints; ``app`` is the ASGI application."""

    def __init__(self, sources: Sequence[Any], loader: Callable[[Any], ServableModel],
                 options: ServeOptions = ServeOptions(), on_failure: Callable[[], None] = lambda: None) -> None:
        self.sources, self.loader, self.options, self.on_failure = list(sources), loader, options, on_failure
        self.metrics = Metrics()
        self.models: dict[str, Served] = {}
        self.ready = False
        self.error: BaseException | None = None
        self._executor: ThreadPoolExecutor | None = None
        model = "/v2/models/{name}"
        versioned = "/v2/models/{name}/versions/{version}"
        routes = [Route("/v2/health/live", self.live), Route("/v2/health/ready", self.server_ready),
                  Route("/v2", self.server_metadata), Route("/metrics", self.metrics_text)]
        for prefix in (model, versioned):
            routes += [Route(prefix, self.model_metadata), Route(prefix + "/ready", self.model_ready),
                       Route(prefix + "/infer", self.infer, methods=["POST"])]
        self.app = Starlette(routes=routes, lifespan=self._lifespan,
                             exception_handlers={HTTPException: self._http_error})

    # -- lifecycle --------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette):
        self._executor = ThreadPoolExecutor(self.options.workers, thread_name_prefix="zoo-serve-onnxruntime")
        loading = asyncio.get_running_loop().create_task(self._load_all())
        try:
            yield
        finally:
            loading.cancel()
            for served in self.models.values():
                served.runner.close()
            self._executor.shutdown(wait=True)

    async def _load_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for source in self.sources:
                model = await loop.run_in_executor(None, self.loader, source)
                if model.name in self.models:
                    raise ServeError(f"two bundles serve a model named {model.name!r}; serve each name once")
                self._add(model)
            self.ready = True
            log.info("ready: %s", ", ".join(self.models))
        except Exception as exc:  # a bad bundle: the server stops and serve() raises it
            self.error = exc if isinstance(exc, ZooError) else ServeError(f"loading a model failed ({one_line(exc)})")
            self.on_failure()

    def _add(self, model: ServableModel) -> None:
        batch = batch_axis(model.inputs, model.outputs)
        observe = self.metrics.batch_rows.labels(model.name).observe
        if self.options.batching and batch is not None:
            runner = Batcher(model, self._executor, observe, self.options.max_batch_size,
                             self.options.max_queue_delay_ms / 1000)
        else:
            runner = Runner(model, self._executor, observe)
        self.metrics.declare(model.name)
        self.models[model.name] = Served(model, runner, batch)

    # -- responses --------------------------------------------------------------------------------------------

    @staticmethod
    def _json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload, separators=(",", ":")), status, media_type=JSON_TYPE)

    @staticmethod
    def _error(message: str, status: int) -> Response:
        return Response(error_body(message), status, media_type=JSON_TYPE)

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        """Starlette's own refusals (no such path, wrong method) as ``{"error": ...}``."""
        messages = {404: f"no such endpoint: {request.url.path}",
                    405: f"{request.method} is not allowed on {request.url.path}"}
        return self._error(messages.get(exc.status_code, str(exc.detail)), exc.status_code)

    def _served(self, request: Request) -> Served:
        name = request.path_params["name"]
        served = self.models.get(name)
        if served is None:
            if not self.ready and self.error is None:
                raise RequestError(f"model {name!r} is not ready (models are loading)", 503)
            raise RequestError(f"unknown model {name!r} (this server serves {', '.join(self.models) or 'none'})",
                               404)
        version = request.path_params.get("version")
        if version is not None and version != served.model.version:
            raise RequestError(f"model {name!r} has no version {version!r} (it has {served.model.version})", 404)
        return served

    # -- endpoints --------------------------------------------------------------------------------------------

    async def live(self, request: Request) -> Response:
        return self._json({"live": True})

    async def server_ready(self, request: Request) -> Response:
        return self._json({"ready": self.ready}, 200 if self.ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        return self._json({"name": "zoo", "version": __version__, "extensions": EXTENSIONS})

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=self.metrics.content_type)

    async def model_metadata(self, request: Request) -> Response:
        try:
            return self._json(self._served(request).metadata())
        except RequestError as exc:
            return self._error(str(exc), exc.status)

    async def model_ready(self, request: Request) -> Response:
        try:
            served = self._served(request)
        except RequestError as exc:
            return self._error(str(exc), exc.status)
        return self._json({"name": served.model.name, "ready": True})

    async def infer(self, request: Request) -> Response:
        start = time.perf_counter()
        name = request.path_params["name"]
        label = name if name in self.models else UNKNOWN_MODEL
        try:
            response = await self._infer(request)
        except RequestError as exc:
            response = self._error(str(exc), exc.status)
        except ZooError as exc:  # the model's own check of the inputs, or ONNX Runtime refusing them
            response = self._error(str(exc), 400)
        except ClientDisconnect:  # nobody reads the answer; counted as the client's doing
            response = self._error("the client disconnected before sending the whole request", 499)
        except Exception as exc:
            log.error("model %r: %s", name, one_line(exc))
            response = self._error(f"the server failed ({one_line(exc)})", 500)
        self.metrics.request(label, response.status_code, time.perf_counter() - start)
        return response

    async def _body(self, request: Request) -> bytes:
        """The request body, refused (413) past ``max_body_bytes`` before it is all read. Starlette's own
        ``max_body_size`` answers a declared oversize body in plain text, not the protocol's JSON error."""
        limit = self.options.max_body_bytes
        refused = RequestError(f"the request body is over this server's limit of {limit} bytes", 413)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise refused
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise refused
            chunks.append(chunk)
        return b"".join(chunks)

    async def _infer(self, request: Request) -> Response:
        served = self._served(request)
        model = served.model
        parsed = parse_request(await self._body(request), request.headers.get(HEADER_LENGTH))
        feeds, rows = served.feeds(parsed, self.options.max_batch_size)
        wanted = served.wanted(parsed)
        outputs = await served.runner.run(feeds, rows)
        answers.add_task_outputs(model, outputs, {n for n, _, _ in wanted})
        chosen = [(n, answers.top_classes(outputs[n], model.class_names, top) if top else outputs[n], binary)
                  for n, binary, top in wanted]
        body, headers = encode_response(model.name, model.version, parsed.id, chosen)
        return Response(body, 200, headers=headers)

