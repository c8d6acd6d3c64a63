"""The small student cnn-tiny-digits with and without its teacher (a cnn-digits run), over three seeds.

Each seed trains the student twice with its defaults: alone (labels only) and distilled from the teacher
(``--teacher``, the defaults' kd_temperature and kd_alpha). The teacher is trained once with cnn-digits'
defaults, or read with --teacher RUN.

Prints per seed: test accuracy alone, with the teacher, and the difference; then the means.
Run: python benchmarks/distill.py [--seeds 0,1,2] [--teacher RUN] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

import zoo  # noqa: E402
from zoo.cards.facts import parameter_count  # noqa: E402
from zoo.config import parse_assignments  # noqa: E402
from zoo.runs import open_run  # noqa: E402

STUDENT, TEACHER = "cnn-tiny-digits", "cnn-digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--teacher", type=Path, help="a finished cnn-digits run (default: train one)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key of the student (kd_temperature, kd_alpha with the teacher)")
    args = parser.parse_args()
    overrides = parse_assignments(args.assignments)
    alone_overrides = {k: v for k, v in overrides.items() if not k.startswith("kd_")}
    rows, gains = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        teacher = open_run(args.teacher) if args.teacher else zoo.train(TEACHER, out=root / "teacher")
        teacher_accuracy = teacher.metrics()["metrics"]["accuracy"]
        print(f"teacher {teacher.path.name}: accuracy {teacher_accuracy:.4f}", file=sys.stderr)
        for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
            started = time.perf_counter()
            alone = zoo.train(STUDENT, seed=seed, overrides=alone_overrides, out=root / f"alone-{seed}")
            taught = zoo.train(STUDENT, seed=seed, overrides=overrides, teacher=teacher.path,
                               out=root / f"taught-{seed}")
            without, with_teacher = (r.metrics()["metrics"]["accuracy"] for r in (alone, taught))
            gains.append(with_teacher - without)
            rows.append([seed, without, with_teacher, with_teacher - without, teacher_accuracy,
                         taught.config["kd_temperature"], taught.config["kd_alpha"], time.perf_counter() - started])
            print(f"seed {seed}: alone {without:.4f}, with the teacher {with_teacher:.4f}", file=sys.stderr)
        means = [statistics.mean(column) for column in zip(*[row[1:4] for row in rows])]
        rows.append(["mean", *means, teacher_accuracy, "", "", ""])
    parameters = parameter_count(zoo.create_model(STUDENT, **alone_overrides))
    report("distill", ["seed", "alone", "with_teacher", "difference", "teacher", "kd_temperature", "kd_alpha",
                       "wall_s"], rows,
           {"student": STUDENT, "student_parameters": parameters, "teacher": TEACHER,
            "teacher_run": teacher.path.name, "overrides": overrides,
            "difference_stdev": statistics.stdev(gains) if len(gains) > 1 else None})


if __name__ == "__main__":
    main()
