"""Run the inference application on uvicorn: ``serve`` in the foreground (the CLI), ``ServerThread`` in-process.

The listening socket is bound here, before uvicorn starts, so a busy port is one ``ServeError`` line and
port 0 (any free port) tells its number. SIGTERM and SIGINT stop accepting, let the requests in flight finish
(up to ``graceful_timeout_s``) and return from ``serve``: a drained server exits 0 (uvicorn's own handler
raises the signal again after draining, which would end the process with the signal's status).

Imports uvicorn and ``zoo.serve``'s own modules; the default loader is ``zoo.serve.bundle_model``.
"""
from __future__ import annotations

import contextlib
import functools
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import uvicorn

from zoo.errors import one_line
from zoo.serve.app import InferenceApp, ServeError, ServeOptions
from zoo.serve.model import ServableModel

LOCALHOST = "127.0.0.1"

Loader = Callable[[Any], ServableModel]


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT drain and stop the server, and are not raised again afterwards (see the module doc)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), or one ServeError line."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on such sockets (proto 0 cost 40 ms a request)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        raise ServeError(f"cannot listen on {host}:{port} ({one_line(exc)})") from None
    sock.set_inheritable(True)
    return sock


def default_loader(public_key: str | Path | None) -> Loader:
    """Bundles loaded with their checksums (and, with ``public_key``, their signature) checked first."""
    from zoo.serve.bundle_model import load_bundle_model

    return functools.partial(load_bundle_model, public_key=public_key)


class _Prepared:
    """The application, uvicorn server and socket of one server, wired together."""

    def __init__(self, sources: Sequence[Any], host: str, port: int, options: ServeOptions, loader: Loader,
                 log_level: str) -> None:
        if not sources:
            raise ServeError("give at least one bundle to serve")
        self.inference = InferenceApp(sources, loader, options, on_failure=self._stop)
        config = uvicorn.Config(self.inference.app, log_level=log_level, access_log=False, lifespan="on",
                                http=options.http, loop=options.loop, server_header=False,
                                timeout_graceful_shutdown=int(options.graceful_timeout_s + 0.999))
        self.server = _Uvicorn(config)
        self.socket = bind(host, port)
        self.host, self.port = host, self.socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _stop(self) -> None:
        self.server.should_exit = True

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.socket.close()


def serve(bundles: Sequence[str | Path], host: str = LOCALHOST, port: int = 8000, *,
          public_key: str | Path | None = None, options: ServeOptions = ServeOptions(),
          loader: Loader | None = None, log_level: str = "warning",
          announce: Callable[[str], None] = print) -> None:
    """Serve ``bundles`` on the Open Inference Protocol until SIGTERM or SIGINT, then return.

    ``host``: 127.0.0.1 unless told otherwise. ``public_key``: check each bundle's signature before it is
    loaded. ``loader``: how a bundle becomes a ``ServableModel`` (default ``zoo.serve.bundle_model``).
    ``announce``: told the URL once the socket listens (before the models are loaded; readiness says when).
    Raises a ``ZooError`` (one line) for a port it cannot bind or a bundle that fails its checks.
    """
    prepared = _Prepared(list(bundles), host, port, options, loader or default_loader(public_key), log_level)
    announce(f"zoo serve: listening on {prepared.url} (Open Inference Protocol v2; ready at /v2/health/ready)")
    prepared.run()
    if prepared.inference.error is not None:
        raise prepared.inference.error


class ServerThread:
    """A server running in a thread of this process, for tests and benchmarks::

        with ServerThread(["exports/cnn-digits"]) as server:
            server.wait_ready()
            ...  # talk to server.url

    Binds 127.0.0.1 on a free port by default; leaving the block drains and stops it.
    """

    def __init__(self, bundles: Sequence[Any], host: str = LOCALHOST, port: int = 0, *,
                 public_key: str | Path | None = None, options: ServeOptions = ServeOptions(),
                 loader: Loader | None = None, log_level: str = "warning") -> None:
        self._prepared = _Prepared(list(bundles), host, port, options, loader or default_loader(public_key),
                                   log_level)
        self.url, self.port = self._prepared.url, self._prepared.port
        self.inference = self._prepared.inference
        self._thread = threading.Thread(target=self._prepared.run, name=f"zoo-serve-{self.port}", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until every model is loaded; raise the loading error, or ServeError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.inference.ready:
            if self.inference.error is not None:
                raise self.inference.error
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ServeError(f"the server at {self.url} was not ready within {timeout:g} s")
            time.sleep(0.01)

    def stop(self) -> None:
        self._prepared.server.should_exit = True
        self._thread.join()
