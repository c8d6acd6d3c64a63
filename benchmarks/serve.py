"""`zoo serve` under load: requests per second and p50/p99 latency, against in-process ONNX Runtime (the limit).

For cnn-digits and lstm-digits (the committed bundles in exports/), one row per request shape: batch 1,
the model's output ``output`` asked for, at concurrency 1, 8 and 32, with JSON tensors and with the binary
tensor extension, on a server with batching off, one with batching on (``max_queue_delay_ms`` 0, the
default) and one whose batches wait up to 1 ms for company.

Each server runs in a subprocess (``zoo.serve.serve``). The client is this process: an asyncio client on
raw sockets with HTTP/1.1 keep-alive, one connection per concurrent request, each request's bytes built
once, so it spends as little CPU as a client can; it still shares the machine's cores with the server, and
at concurrency 32 it takes a good part of one. Every response must be a 200; the first of each row is
checked against ONNX Runtime. The ``onnxruntime`` rows are ``session.run`` on the same input, in this
process, one thread, back to back.

The servers run side by side and take turns on each row, so that a machine shared with other work loads
them alike; each row is measured ``--rounds`` times: ``requests_per_s``, p50 and p99 are the fastest
round's (the least disturbed by other work), ``median_per_s`` the median round's rate, ``rounds_per_s``
every one. ``--stacks`` adds cnn-digits JSON rows for uvicorn's HTTP parsers (h11, httptools) and event
loops (asyncio, and uvloop when it is installed).

Goal: at concurrency 1 with JSON, at least 1,000 requests per second for cnn-digits (the default setup).
Run: python benchmarks/serve.py [--seconds S] [--rounds N] [--stacks]
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

from zoo.serve import ServeOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"cnn-digits": (1, 8, 8), "lstm-digits": (8, 8)}  # one row's shape (the LSTM reads 8 steps)
CONCURRENCY = (1, 8, 32)
SERVER = """
import sys
from zoo.serve import ServeOptions, serve
options = ServeOptions(**eval(sys.argv[1]))
serve(sys.argv[2:], port=0, options=options, announce=lambda line: print(line, flush=True))
"""


class Server:
    """``zoo.serve.serve`` in a subprocess, stopped with SIGTERM."""

    def __init__(self, **options) -> None:
        bundles = [str(ROOT / "exports" / name) for name in MODELS]
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, repr(options), *bundles],
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.process.stdout.readline()
        found = re.search(r"http://([\d.]+):(\d+)", line)
        if not found:
            raise SystemExit(f"the server did not start: {line!r}")
        self.host, self.port = found.group(1), int(found.group(2))
        asyncio.run(self._wait_ready())

    async def _wait_ready(self) -> None:
        request = b"GET /v2/health/ready HTTP/1.1\r\nHost: bench\r\n\r\n"
        for _ in range(600):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            status, _ = await read_response(reader)
            writer.close()
            if status == 200:
                return
            await asyncio.sleep(0.05)
        raise SystemExit("the server was not ready within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        if self.process.wait(timeout=60) != 0:
            raise SystemExit(f"the server exited {self.process.returncode} after SIGTERM")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    start = lower.index(b"\r\ncontent-length:") + 17
    length = int(lower[start:lower.index(b"\r\n", start)])
    return int(head[9:12]), await reader.readexactly(length)


def request_bytes(model: str, array: np.ndarray, binary: bool) -> bytes:
    tensor = {"name": "input", "shape": list(array.shape), "datatype": "FP32"}
    if binary:
        header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": array.nbytes}}],
                             "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
        body, extra = header + array.tobytes(), f"Inference-Header-Content-Length: {len(header)}\r\n"
    else:
        body = json.dumps({"inputs": [{**tensor, "data": array.ravel().tolist()}],
                           "outputs": [{"name": "output"}]}).encode()
        extra = ""
    return (f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def logits(body: bytes, binary: bool) -> np.ndarray:
    if binary:
        return np.frombuffer(body[-40:], dtype="<f4")
    return np.array(json.loads(body)["outputs"][0]["data"], dtype=np.float32)


async def load(server: Server, request: bytes, concurrency: int, seconds: float, warmup: float) -> tuple[list, bytes]:
    """Closed-loop load: each connection sends its next request when the last is answered."""
    latencies: list[float] = []
    first: list[bytes] = []
    begin = time.perf_counter()
    measure_from, stop_at = begin + warmup, begin + warmup + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        while (sent := time.perf_counter()) < stop_at:
            writer.write(request)
            status, body = await read_response(reader)
            if status != 200:
                raise SystemExit(f"the server answered {status}: {body[:300]!r}")
            if not first:
                first.append(body)
            if sent >= measure_from:
                latencies.append(time.perf_counter() - sent)
        writer.close()

    await asyncio.gather(*[connection() for _ in range(concurrency)])
    return latencies, first[0]


def summary(latencies: list[float], seconds: float) -> tuple[float, float, float]:
    ms = np.array(latencies) * 1e3
    return len(latencies) / seconds, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def onnxruntime_limit(model: str, array: np.ndarray, seconds: float) -> tuple[tuple[float, float, float], np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(ROOT / "exports" / model / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    expected = session.run(["output"], {"input": array})[0]
    latencies, stop_at = [], time.perf_counter() + seconds
    while (start := time.perf_counter()) < stop_at:
        session.run(["output"], {"input": array})
        latencies.append(time.perf_counter() - start)
    return summary(latencies, seconds), expected


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.5, help="measured seconds per row (after 0.3 s warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per row; the table keeps the fastest")
    parser.add_argument("--stacks", action="store_true", help="also compare uvicorn's HTTP parsers and loops")
    args = parser.parse_args()
    load_before = load_average()
    rng = np.random.default_rng(0)
    arrays = {model: rng.random((1, *shape), dtype=np.float32) for model, shape in MODELS.items()}
    rows, expected = [], {}
    for model, array in arrays.items():
        results = [onnxruntime_limit(model, array, args.seconds) for _ in range(args.rounds)]
        (rps, p50, p99), expected[model] = max(results, key=lambda result: result[0])
        rates = [round(result[0][0]) for result in results]
        rows.append([model, "onnxruntime in-process", "-", "-", 1, round(rps), round(float(np.median(rates))), p50, p99,
                     rates])
    setups = {"batching off": dict(batching=False), "batching on": dict(batching=True),
              "batching on, 1 ms wait": dict(batching=True, max_queue_delay_ms=1.0)}
    cells = [(m, b, c) for m in MODELS for b in (False, True) for c in CONCURRENCY]
    stacks = {f"{http}+{loop}": dict(http=http, loop=loop) for http in ("h11", "httptools")
              for loop in ("asyncio", "uvloop") if loop == "asyncio" or importlib.util.find_spec("uvloop")}
    plan = [(setups, cells)]
    if args.stacks:  # cnn-digits, JSON, concurrency 1 and 32
        plan.append((stacks, [("cnn-digits", False, 1), ("cnn-digits", False, 32)]))
    for servers, cells in plan:
        running = {}
        try:
            for label, options in servers.items():
                running[label] = Server(**options)
            for model, binary, concurrency in cells:  # the setups take turns on each cell: the same load for each
                request = request_bytes(model, arrays[model], binary)
                measured = {label: [] for label in running}
                for _ in range(args.rounds):
                    for label, server in running.items():
                        latencies, body = asyncio.run(load(server, request, concurrency, args.seconds, 0.3))
                        np.testing.assert_allclose(logits(body, binary), expected[model][0], rtol=1e-5, atol=1e-5)
                        measured[label].append(summary(latencies, args.seconds))
                for label, results in measured.items():
                    rps, p50, p99 = max(results)  # the least disturbed round
                    options = servers[label]
                    rates = [round(r[0]) for r in results]
                    rows.append([model, f"zoo serve, {label}", "binary" if binary else "JSON",
                                 options.get("http", "httptools") + "+" + options.get("loop", "asyncio"),
                                 concurrency, round(rps), round(float(np.median(rates))), p50, p99, rates])
                    print(f"{rows[-1][1]:>30} {model:>12} {rows[-1][2]:>6} c={concurrency:<3} {rps:7.0f}/s "
                          f"p50 {p50:6.2f} ms p99 {p99:6.2f} ms  rounds {rows[-1][-1]}", file=sys.stderr)
        finally:
            for server in running.values():
                server.stop()
    default = "zoo serve, batching on" if ServeOptions().batching else "zoo serve, batching off"
    cnn_json_c1 = next(r for r in rows if r[0] == "cnn-digits" and r[1] == default
                       and r[2] == "JSON" and r[4] == 1)
    report("serve", ["model", "setup", "tensors", "http+loop", "concurrency", "requests_per_s", "median_per_s",
                     "p50_ms", "p99_ms", "rounds_per_s"],
           rows, extra={"goal": f"cnn-digits, JSON, concurrency 1, {default}: >= 1000 requests/s",
                        "goal_met": cnn_json_c1[5] >= 1000, "client": "asyncio raw sockets, keep-alive, this process",
                        "load_average_before": load_before, "load_average_after": load_average(),
                        "seconds_per_round": args.seconds, "rounds": args.rounds})
    print(f"load average (1, 5, 15 min) before: {load_before}; after: {load_average()}")


if __name__ == "__main__":
    main()
