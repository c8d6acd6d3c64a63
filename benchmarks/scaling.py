"""Training throughput on 1 and 2 processes (torch.distributed, gloo on CPU) for the CNN and the LSTM.

Samples per second come from the epochs after the first (warm-up), as recorded in history.jsonl;
wall seconds are the whole command, so the difference shows what launching the workers costs.
One process runs twice: with torch's default threads (one per core) and with the single thread each
of the 2 workers gets (the baseline), so that the DDP overhead is not mistaken for a threading effect.
On a machine with few cores expect little gain: the processes share the cores (each gets
cores / processes threads) and pay for the gradient all-reduce; the point is that it works and
what the overhead is. Other work on the machine (the load average is recorded) hurts the
multi-threaded single process most, so compare rows from one quiet run.
Run: python benchmarks/scaling.py [--epochs N] [--models cnn-digits,lstm-digits]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402


def train(model: str, procs: int, threads: int, epochs: int, out: Path) -> dict[str, float]:
    """One `zoo train` on ``procs`` processes of ``threads`` threads: samples per second after warm-up, wall seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zoo", "train", model, "--epochs", str(epochs), "--nproc-per-node",
                    str(procs), "--out", str(out)], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - started
    samples = json.loads((out / "config.json").read_text())["data"]["splits"]["train"]
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    epoch_seconds = statistics.median(h["seconds"] for h in history[1:] or history)
    return {"samples_per_second": samples / epoch_seconds, "epoch_seconds": epoch_seconds, "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--models", default="cnn-digits,lstm-digits")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    # (processes, threads each); speedup is against the first: one process with a worker's threads
    setups = [(1, max(1, cores // 2)), (2, max(1, cores // 2)), (1, cores)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            baseline = None
            for procs, threads in setups:
                result = train(model, procs, threads, args.epochs, Path(tmp) / f"{model}-{procs}-{threads}")
                baseline = baseline or result["samples_per_second"]
                rows.append([model, procs, threads, cores, result["samples_per_second"],
                             result["samples_per_second"] / baseline, result["epoch_seconds"], result["wall_seconds"]])
    report("scaling", ["model", "processes", "threads_each", "cores", "samples_per_second", "speedup",
                       "epoch_seconds", "wall_seconds"], rows,
           {"epochs": args.epochs, "backend": "gloo", "load_average_1min": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
