"""Run a model's requests in a worker thread, one at a time or stacked into batches along the batch axis.

``Runner`` answers each request with its own ONNX Runtime run on a thread pool. ``Batcher`` queues requests and
lets one worker take them in arrival order: when it is free it takes every queued request with the same
non-batch shapes, up to ``max_batch_size`` rows, runs them as one batch and hands each its rows back. With
``max_queue_delay`` 0 (Triton's default too) it never waits for company: a lone request runs at once, and
batches form only from requests that queued while the previous batch ran, so low load pays no delay.
A larger delay holds the first request of a batch up to that long for others to join.

Imports asyncio, numpy and ``zoo.serve.model`` only.
"""
from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from zoo.serve.model import ServableModel

Outputs = dict[str, np.ndarray]
Observer = Callable[[int], None]  # told the rows of every run (for the batch-size metric)


class Runner:
    """Every request is its own run, on the executor's threads (ONNX Runtime sessions run concurrently)."""

    def __init__(self, model: ServableModel, executor: Executor, observe: Observer) -> None:
        self.model, self.executor, self.observe = model, executor, observe

    async def run(self, feeds: Mapping[str, np.ndarray], rows: int) -> Outputs:
        self.observe(rows)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.model.infer, feeds)

    def close(self) -> None:
        pass


@dataclass
class _Pending:
    feeds: Mapping[str, np.ndarray]
    rows: int
    key: tuple
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """Requests queued and run in batches by one worker task per model (see the module docstring)."""

    def __init__(self, model: ServableModel, executor: Executor, observe: Observer,
                 max_batch_size: int, max_queue_delay: float = 0.0) -> None:
        self.model, self.executor, self.observe = model, executor, observe
        self.max_batch_size, self.max_queue_delay = max_batch_size, max_queue_delay
        self._queue: collections.deque[_Pending] = collections.deque()
        self._arrived = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def run(self, feeds: Mapping[str, np.ndarray], rows: int) -> Outputs:
        # requests stack when every input agrees beyond the batch axis (the sequence length of an RNN may not)
        key = tuple((name, array.shape[1:]) for name, array in feeds.items())
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(feeds, rows, key, future))
        self._arrived.set()
        return await future

    def close(self) -> None:
        self._worker.cancel()

    def _take(self) -> list[_Pending]:
        """The oldest request and the queued ones that stack with it, in order, up to max_batch_size rows."""
        first = self._queue.popleft()
        batch, rows, rest = [first], first.rows, collections.deque()
        while self._queue:
            pending = self._queue.popleft()
            if pending.key == first.key and rows + pending.rows <= self.max_batch_size:
                batch.append(pending)
                rows += pending.rows
            else:
                rest.append(pending)
        self._queue.extendleft(reversed(rest))
        return batch

    def _queued_rows(self) -> int:
        return sum(p.rows for p in self._queue)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            if self.max_queue_delay > 0:
                deadline = self._queue[0].arrived + self.max_queue_delay
                while self._queued_rows() < self.max_batch_size and (left := deadline - time.monotonic()) > 0:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), left)
                    except TimeoutError:
                        break
            batch = [p for p in self._take() if not p.future.done()]  # a client that left is not run
            if not batch:
                continue
            rows = sum(p.rows for p in batch)
            self.observe(rows)
            feeds = batch[0].feeds if len(batch) == 1 else {
                name: np.concatenate([p.feeds[name] for p in batch]) for name in batch[0].feeds}
            try:
                outputs = await loop.run_in_executor(self.executor, self.model.infer, feeds)
            except Exception as exc:  # every request of the batch gets the model's error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            start = 0
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_result({name: value[start:start + pending.rows]
                                               for name, value in outputs.items()})
                start += pending.rows
