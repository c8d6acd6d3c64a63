"""`zoo train`'s loop against a plain hand-written PyTorch loop: same CNN, data, batch size, epochs.

Both sides do the same work per epoch (shifted-image augmentation, AdamW, cosine schedule,
validation accuracy); zoo adds its sampler, progress, history and a checkpoint per epoch.
Times are the training loops only (no data loading or final evaluation). Target ratio <= 1.10.
Run: python benchmarks/train_overhead.py [--epochs N] [--repeat N]
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

import torch  # noqa: E402
from torch import nn  # noqa: E402

import zoo  # noqa: E402
from zoo.models import load_model_data  # noqa: E402
from zoo.recipes import random_shift  # noqa: E402
from zoo.registry import get_model  # noqa: E402
from zoo.training import SilentProgress  # noqa: E402
from zoo_cnn.models import DigitsCNN  # noqa: E402

MODEL = "cnn-digits"


class LoopTimer(SilentProgress):
    """Measures the time from the first step to the end of the last epoch."""

    def start(self, total_steps: int, done_steps: int) -> None:
        self.began = time.perf_counter()

    def close(self) -> None:
        self.seconds = time.perf_counter() - self.began


def zoo_loop(epochs: int, out: Path) -> float:
    timer = LoopTimer()
    zoo.train(MODEL, epochs=epochs, out=out, force=True, progress=timer)
    return timer.seconds


def plain_loop(epochs: int) -> float:
    """What a careful user writes by hand: DataLoader, AdamW, cosine, per-epoch validation."""
    config = dict(get_model(MODEL).default_config)
    data = load_model_data(get_model(MODEL))
    torch.manual_seed(config["seed"])
    model = DigitsCNN(1, 8, 8, 10, channels=config["channels"], hidden=config["hidden"], dropout=config["dropout"])
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    train = torch.utils.data.TensorDataset(torch.from_numpy(data.train.x), torch.from_numpy(data.train.y))
    loader = torch.utils.data.DataLoader(train, batch_size=config["batch_size"], shuffle=True)
    val_x, val_y = torch.from_numpy(data.val.x), torch.from_numpy(data.val.y)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"])
    began = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = loss_fn(model(random_shift(x, config["shift"])), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            (model(val_x).argmax(1) == val_y).float().mean().item()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    zoo_times, plain_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):  # interleaved, so drift in machine load hits both sides
            plain_times.append(plain_loop(args.epochs))
            zoo_times.append(zoo_loop(args.epochs, Path(tmp) / "run"))
    plain, ours = statistics.median(plain_times), statistics.median(zoo_times)
    rows = [["plain PyTorch loop", args.epochs, plain, 1.0], ["zoo train", args.epochs, ours, ours / plain]]
    report("train_overhead", ["loop", "epochs", "median_seconds", "ratio"], rows,
           {"ratio": ours / plain, "target": 1.10, "repeat": args.repeat, "threads": torch.get_num_threads()})


if __name__ == "__main__":
    main()
