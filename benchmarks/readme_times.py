"""The README's two commands, verbatim, in one fresh clone, in order: how long each takes and whether it passes.

The commands are read from the README itself (the first two ```bash blocks of "Two commands on a fresh
machine"), so the times quoted there are the times of exactly what a reader runs. The clone is made from this
repository's committed HEAD (``git clone --no-local``: no hard links, no uncommitted files), in a temporary
folder; the first command installs and runs ``zoo publish`` (which rewrites cards/, exports/ and the README's
catalog in the clone), the second installs the test extra and runs the three test groups. Besides the wall
time of each command, the time of the step inside it is read from its own output: ``zoo publish``'s per-model
lines are timestamped here as they arrive, and pytest's summary line gives its own seconds per group.

Run it on an idle machine: python benchmarks/readme_times.py [--keep DIR]; prints a table and writes
results/readme_times.json. It takes as long as the two commands (about 15 minutes on the 2-core machine).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Two commands on a fresh machine"


def readme_commands(readme: Path) -> list[str]:
    """The first two ```bash blocks after the README's "Two commands" heading, each one line."""
    text = readme.read_text()
    section = text[text.index(SECTION):]
    blocks = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    if len(blocks) < 2 or any("\n" in b.strip() for b in blocks[:2]):
        raise SystemExit(f"README.md: expected two one-line ```bash blocks under {SECTION!r}")
    return [b.strip() for b in blocks[:2]]


def run(command: str, cwd: Path, log: Path) -> tuple[int, float, list[tuple[float, str]]]:
    """Run ``command`` in bash in ``cwd``; its exit status, wall seconds and each output line with the second
    it arrived at (the log keeps them all)."""
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            at = time.perf_counter() - started
            lines.append((at, line.rstrip("\n")))
            out.write(f"{at:9.1f}  {line}")
        code = proc.wait()
    return code, time.perf_counter() - started, lines


def pytest_seconds(lines: list[tuple[float, str]]) -> list[float]:
    """pytest's own seconds, one per summary line ("520 passed, 3 warnings in 147.21s (0:02:27)")."""
    return [float(m.group(1)) for _, line in lines if (m := re.search(r" in ([0-9.]+)s( \(|$)", line))
            and re.search(r"\d+ (passed|failed|error)", line)]


def publish_seconds(lines: list[tuple[float, str]]) -> float | None:
    """From the first model's first line to the last line ``zoo publish`` printed: its time without the install."""
    marked = [at for at, line in lines if re.match(r"^[a-z0-9][a-z0-9-]*: (train|export|verify|card)", line)]
    return (lines[-1][0] - marked[0]) if marked else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="clone here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    first, second = readme_commands(ROOT / "README.md")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    parent = args.keep or Path(tempfile.mkdtemp(prefix="zoo-readme-"))
    clone = parent / "zoo"
    try:
        subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True)
        code1, wall1, lines1 = run(first, clone, parent / "command1.log")
        code2, wall2, lines2 = run(second, clone, parent / "command2.log")
    finally:
        if args.keep is None:
            shutil.rmtree(parent, ignore_errors=True)
    groups = pytest_seconds(lines2)
    rows = [["1: install + zoo publish", code1, wall1, publish_seconds(lines1) or float("nan"), "zoo publish"],
            ["2: install + tests", code2, wall2, sum(groups) if groups else float("nan"),
             "pytest (" + " + ".join(f"{g:.0f}" for g in groups) + " s)"]]
    report("readme_times", ["command", "exit", "wall s", "inner s", "inner step"], rows,
           {"commit": head, "commands": [first, second], "pytest_groups_s": groups})
    if code1 or code2:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
