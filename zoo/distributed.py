"""Training on several processes or machines, on torch.distributed.run (the engine behind torchrun).

The parent (``launch``) checks the request, creates the run directory every rank shares, and runs
``python -m torch.distributed.run ... --module zoo.distributed REQUEST`` as a subprocess. Each
worker (``main``) joins the process group (gloo on CPU, nccl on CUDA) and calls ``zoo.api.train``
with its ``World``: rank 0 alone writes the run and draws the progress bar. torchrun's own output
goes to a log file, so that a failure reaches the user as one line: which rank died or why the
rendezvous did not form, and where the last good checkpoint is.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from zoo import runs
from zoo.errors import Interrupted, WorkFailed, ZooError, one_line

CONSOLE_VARIABLE = "ZOO_CONSOLE"  # the terminal rank 0 draws its progress bar on

# One failure in torchrun's ChildFailedError report (torch.distributed.elastic...errors template).
_FAILURE = re.compile(
    r"rank\s*:\s*(?P<rank>\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(?P<code>-?\d+) \(pid: \d+\)"
    r"[ ]*(?:\((?P<signal>\w+)\))?[ ]*\n\s*error_file:[ ]*(?P<file>.*)\n\s*traceback\s*:[ ]*(?P<message>.*)")
# The heading torchrun puts above the failure it observed first.
_ROOT_CAUSE = "Root Cause (first observed failure):"
# A worker's error that only says another worker went away.
_LOST_PEER = re.compile(r"gloo|nccl|by peer|Dist(Backend|Network)Error", re.IGNORECASE)


class LaunchError(WorkFailed):
    """The job failed: a worker died or failed, or the processes never met (exit status 1)."""


class WorkerInputError(ZooError):
    """A worker refused the user's input (its own one-line error, exit status 2)."""


@dataclass(frozen=True)
class Topology:
    """How many processes on how many machines, and where they meet (torchrun's flags)."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    rdzv_timeout: int = 600

    def __post_init__(self) -> None:
        if not 0 <= self.node_rank < self.nnodes:
            raise ZooError(f"--node-rank {self.node_rank} must be between 0 and --nnodes - 1 ({self.nnodes - 1})")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise ZooError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT, the same on every machine")

    @property
    def distributed(self) -> bool:
        return self.nproc_per_node * self.nnodes > 1

    @property
    def endpoint(self) -> str:
        """The user's HOST:PORT, or a free loopback port when every process is on this machine."""
        return self.rdzv_endpoint or "127.0.0.1:0"

    def command(self, request: Mapping[str, Any]) -> list[str]:
        """The torchrun command line that starts this machine's workers on ``request``."""
        local = ["--local-addr=127.0.0.1"] if self.nnodes == 1 else []
        return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={self.nproc_per_node}",
                f"--nnodes={self.nnodes}", f"--node-rank={self.node_rank}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={self.endpoint}", f"--rdzv-conf=join_timeout={self.rdzv_timeout}",
                "--max-restarts=0", *local, "--module", __name__, json.dumps(dict(request))]

    def resume_hint(self, path: Path) -> str:
        flags = f" --nproc-per-node {self.nproc_per_node}"
        if self.nnodes > 1:
            flags += f" --nnodes {self.nnodes} --node-rank R --rdzv-endpoint {self.rdzv_endpoint}"
        return f"zoo train --resume {path}{flags}"


def launch(request: Mapping[str, Any], topology: Topology, force: bool = False) -> Path:
    """Train ``request`` (``zoo.api.train``'s keyword arguments) on ``topology``; returns the run directory."""
    path = _prepare(dict(request), topology, force)
    try:
        return _run_job(request, topology, path)
    finally:
        runs.release(path)


def _run_job(request: Mapping[str, Any], topology: Topology, path: Path) -> Path:
    """torchrun on the claimed run directory ``path``; its failure as one line."""
    request = {**request, "out": str(path)} if not request.get("resume") else dict(request)
    job = Path(tempfile.mkdtemp(prefix="zoo-launch-"))
    log = job / "torchrun.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(topology.command(request), stdout=sink, stderr=subprocess.STDOUT,
                                   env=_environment(topology))
        try:
            code = process.wait()
        except KeyboardInterrupt:
            process.wait()  # torchrun got the Ctrl-C too; it stops its workers, rank 0 marks the run
            raise Interrupted(topology.resume_hint(path)) from None
    if code != 0:
        raise _failure(log, topology, path)
    shutil.rmtree(job, ignore_errors=True)
    return path


def _failure(log: Path, topology: Topology, path: Path) -> ZooError:
    """The one-line error for a failed job; the run is marked failed, or removed if nothing was written."""
    message, kind = explain(log.read_text(errors="replace"), topology)
    epoch = _mark_failed(path, message)
    if epoch is not None:
        where = f"the last good checkpoint (epoch {epoch}) is kept: {topology.resume_hint(path)}"
    else:
        where = "no checkpoint was written"
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return kind(f"{message}; {where} (torchrun's log: {log})")


def _prepare(request: dict[str, Any], topology: Topology, force: bool) -> Path:
    """Check the request here, where it is quick, and make and claim the run directory before any
    worker starts (the workers write it under this process's claim)."""
    from zoo.options.privacy import check_processes

    processes = topology.nproc_per_node * topology.nnodes
    if request.get("resume"):
        previous = runs.open_run(request["resume"])
        check_processes(previous.config, processes)
        runs.claim(previous.path)
        return previous.path
    from zoo.api import TRAIN_OPTIONS, check_new_run

    if topology.nnodes > 1 and not request.get("out"):
        raise ZooError("--nnodes above 1 needs --out: the same run directory path on every machine")
    spec, config, _ = check_new_run(request.get("name"), request.get("overrides"),
                                    {key: request.get(key) for key in TRAIN_OPTIONS}, request.get("data"),
                                    request.get("teacher"))
    check_processes(config, processes)
    if topology.node_rank > 0:
        return Path(request["out"])
    return runs.new_run_dir(spec.name, request.get("out"), force)


def _environment(topology: Topology) -> dict[str, str]:
    """The workers' environment: CPU threads shared out between them, and the terminal for rank 0's bar."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // topology.nproc_per_node)))
    if sys.stderr.isatty():
        env[CONSOLE_VARIABLE] = os.ttyname(sys.stderr.fileno())
    return env


def explain(log: str, topology: Topology) -> tuple[str, type[ZooError]]:
    """torchrun's report of a failed job, as one sentence and the error class (so its exit status)."""
    if "RendezvousTimeoutError" in log:
        return (f"the rendezvous at {topology.endpoint} did not form within {topology.rdzv_timeout} s: "
                f"{topology.nnodes} machines must join with the same --nnodes and --rdzv-endpoint", LaunchError)
    root = log.find(_ROOT_CAUSE)
    failures = [{**m.groupdict(), "root": root != -1 and m.start() > root} for m in _FAILURE.finditer(log)]
    if not failures:
        if "RendezvousConnectionError" in log or "DistNetworkError" in log:
            return f"cannot reach the rendezvous at {topology.endpoint}", LaunchError
        return "torchrun failed before any worker started", LaunchError
    cause = min(failures, key=_blame)
    if _killed(cause):
        return f"worker rank {cause['rank']} died ({cause['signal']})", LaunchError
    if int(cause["code"]) == 2:
        return cause["message"].strip(), WorkerInputError
    return f"worker rank {cause['rank']} failed: {cause['message'].strip()}", LaunchError


def _killed(failure: dict[str, str]) -> bool:
    """Ended by a signal before it could write an error of its own (SIGKILL, out of memory, a crash)."""
    return bool(failure["signal"]) and failure["file"] == "<N/A>"


def _blame(failure: dict[str, Any]) -> tuple[int, bool, int]:
    """Order failures by how likely each is the cause: a killed worker, then the user's error,
    then any other error before a mere lost connection to a worker that went away; within one kind,
    torchrun's root cause (its first observed failure) before the workers it then stopped itself
    (SIGTERM, which can also end a survivor before it writes an error of its own)."""
    if _killed(failure):
        kind = 0
    elif int(failure["code"]) == 2:
        kind = 1
    else:
        kind = 3 if _LOST_PEER.search(failure["message"]) else 2
    return kind, not failure["root"], int(failure["rank"])


def _mark_failed(path: Path, message: str) -> int | None:
    """Record the failure in the run's state (unless it completed); the epoch of its checkpoint, if any."""
    if not (path / runs.CHECKPOINT).exists():
        return None
    epoch = int(runs.load_checkpoint(path / runs.CHECKPOINT)["epoch"])
    if (path / runs.CONFIG).exists() and runs.open_run(path).state().get("status") != "complete":
        runs.write_state(path, "failed", epoch, error=message)
    return epoch


def _record_error(message: str) -> None:
    """Hand this worker's error to torchrun in its error-file format, so its report carries one line."""
    target = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if target:
        payload = {"message": {"message": message, "extraInfo": {"timestamp": str(int(time.time()))}}}
        Path(target).write_text(json.dumps(payload))


def _progress(world, request: Mapping[str, Any]):
    """Rank 0's progress bar, on the launching terminal; every other rank stays silent."""
    from zoo.progress import BarProgress

    console = os.environ.get(CONSOLE_VARIABLE)
    if not world.is_main or not console:
        return None
    terminal = os.open(console, os.O_WRONLY)
    os.dup2(terminal, sys.stderr.fileno())
    os.close(terminal)
    return BarProgress(request.get("name") or Path(request["resume"]).name)


def main(argv: list[str] | None = None) -> int:
    """A worker started by torchrun: join the process group, train this rank's share, leave the group."""
    import torch
    import torch.distributed as dist

    from zoo.api import train
    from zoo.training import World

    request = json.loads((argv if argv is not None else sys.argv[1:])[0])
    world = World.from_environment()
    try:
        if world.device.startswith("cuda"):
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group("nccl" if world.device.startswith("cuda") else "gloo")
        try:
            train(**request, world=world, progress=_progress(world, request))
            # rank 0 still evaluates and writes the run: leave together, so that no rank tears
            # down its connections while another still holds them (gloo aborts on that)
            dist.barrier()
        finally:
            dist.destroy_process_group()
    except ZooError as exc:
        _record_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a worker's failure ends the job; torchrun reports it, the parent explains it
        _record_error(one_line(exc))
        return 1
    return 0


def _leave(code: int) -> None:
    """End a worker without the interpreter's teardown. Its work is written and its process group
    destroyed, but gloo's threads can still hold DDP's last work, whose tensors Python then frees
    during finalization: the worker aborts ("terminate called without an active exception", SIGABRT;
    pytorch/pytorch#179291) and torchrun fails a job that has finished. Seen in the two-process test
    (a complete run, then rank 1 aborted); the torchrun tests passed 16 runs of 16 after this change."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(main())
