"""Which worker zoo blames, read from torchrun's own failure report (zoo.distributed.explain).

The report below is torchrun's, copied from a run of
test_distributed.py::test_killed_worker_ends_the_job_cleanly_and_the_checkpoint_resumes in which the agent's
SIGTERM ended rank 0 before it could write an error file: torchrun lists that consequence first and the
SIGKILL of rank 1 under "Root Cause". That run once blamed rank 0.
"""
from __future__ import annotations

from zoo.distributed import LaunchError, Topology, WorkerInputError, explain

KILLED_RANK_1 = """
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: 
=======================================================
zoo.distributed FAILED
-------------------------------------------------------
Failures:
[1]:
  time      : 2026-11-30_02:06:26
  host      : localhost
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 21489)  (SIGTERM)
  error_file: <N/A>
  traceback : Signal 15 (SIGTERM) received by PID 21489
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-30_02:06:26
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 21490)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 21490
=======================================================
"""


def _failure(rank: int, code: int, message: str) -> str:
    return (f"  time      : 2026-11-30_02:06:26\n  host      : localhost\n  rank      : {rank} (local_rank: {rank})\n"
            f"  exitcode  : {code} (pid: 100{rank})\n  error_file: /tmp/error-{rank}.json\n"
            f"  traceback : {message}\n")


def test_the_killed_worker_is_blamed_not_the_one_torchrun_stopped_after_it():
    assert explain(KILLED_RANK_1, Topology()) == ("worker rank 1 died (SIGKILL)", LaunchError)
    without_root_heading = KILLED_RANK_1.replace("Root Cause (first observed failure):", "")
    assert explain(without_root_heading, Topology())[0] == "worker rank 0 died (SIGTERM)"  # the lower rank


def test_the_users_error_wins_over_a_lost_connection_even_when_torchrun_saw_that_first():
    log = ("Failures:\n[1]:\n" + _failure(1, 2, "error: data file has 3 columns, expected 64")
           + "Root Cause (first observed failure):\n[0]:\n"
           + _failure(0, 1, "RuntimeError: [gloo] Connection closed by peer"))
    assert explain(log, Topology()) == ("error: data file has 3 columns, expected 64", WorkerInputError)
