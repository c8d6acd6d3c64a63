"""Whole-process wall time of `zoo list` against `python -c "import torch"`, and with 50 extra plugins.

Targets: `zoo list` <= 0.15x the torch import; with 50 generated plugins installed, < 2x plain `zoo list`.
Run: python benchmarks/cli_startup.py [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

PLUGIN = '''from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="bench-{i}", family="bench", task="classification", dataset="digits",
                      summary="generated", default_config={{"epochs": 1, "batch_size": 1, "lr": 0.1, "seed": 0}})]
'''


def make_plugins(root: Path, count: int) -> None:
    """``count`` installed distributions, each with one entry point and one model."""
    for i in range(count):
        (root / f"zoo_bench_{i}.py").write_text(PLUGIN.format(i=i))
        info = root / f"zoo_bench_{i}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-bench-{i}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[zoo.plugins]\nbench{i} = zoo_bench_{i}\n")


def wall(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    """Median wall time of ``cmd`` over ``repeat`` runs, after one warm-up run."""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **(env or {})})
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    zoo_list = [sys.executable, "-m", "zoo", "list"]
    torch_time = wall([sys.executable, "-c", "import torch"], args.repeat)
    list_time = wall(zoo_list, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        make_plugins(Path(tmp), 50)
        many_time = wall(zoo_list, args.repeat, {"PYTHONPATH": tmp})
    rows = [
        ["python -c 'import torch'", torch_time, 1.0, ""],
        ["zoo list", list_time, list_time / torch_time, "<= 0.15 of torch import"],
        ["zoo list, 50 extra plugins", many_time, many_time / torch_time,
         f"{many_time / list_time:.2f}x plain zoo list (target < 2x)"],
    ]
    report("cli_startup", ["command", "seconds", "ratio_to_torch_import", "target"], rows,
           {"zoo_list_ratio": list_time / torch_time, "fifty_plugins_factor": many_time / list_time})


if __name__ == "__main__":
    main()
