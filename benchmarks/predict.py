"""How fast a one-shot `zoo predict` answers, against its limit: ONNX Runtime's own import and session.

A deployer runs `zoo predict MODEL FILE` once per call; what it costs beyond `import onnxruntime, numpy` and
creating the session is zoo's (the checksum pass, the manifest, the image decode, the CLI). Goal: within
0.5 s of the limit. Each row is the median wall time of fresh processes (`--repeats`), on the built-in
bundles (their graphs are the ones shipped).

Rows: the limit (python -c "import onnxruntime, numpy; InferenceSession(model.onnx)"), `zoo predict NAME
x.npy` (a tensor), `zoo predict NAME digit.png` (a raw image, decoded by the recorded rule), and the same
image on a signed copy with --public-key (the signature checked first) and on an encrypted copy with --key
(decrypted in memory).
Run: python benchmarks/predict.py [--repeats 7]; prints a table and writes results/predict.json.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 0.5


def seconds(command: list[str], repeats: int) -> float:
    """Median wall time of ``command`` run afresh ``repeats`` times (after one warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def protected_copies(bundle: Path, tmp: Path) -> tuple[Path, Path]:
    """A signed copy and an encrypted copy of ``bundle`` (keys made with zoo keygen), for the rows that pay for
    checking a signature or decrypting before the answer."""
    import shutil

    zoo = [sys.executable, "-m", "zoo"]
    signed, encrypted = tmp / "signed", tmp / "encrypted"
    for copy in (signed, encrypted):
        shutil.copytree(bundle, copy)
    subprocess.run(zoo + ["keygen", str(tmp / "signer.pem"), "--signing"], check=True, capture_output=True)
    subprocess.run(zoo + ["sign", str(signed), "--key", str(tmp / "signer.pem")], check=True, capture_output=True)
    subprocess.run(zoo + ["keygen", str(tmp / "recipient.pem")], check=True, capture_output=True)
    subprocess.run(zoo + ["encrypt", str(encrypted), "--to", str(tmp / "recipient.pem.pub")], check=True,
                   capture_output=True)
    return signed, encrypted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", default="cnn-digits")
    args = parser.parse_args()
    bundle = ROOT / "exports" / args.model
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "x.npy", np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32))
        from PIL import Image

        Image.fromarray((np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)).save(tmp / "digit.png")
        limit = [sys.executable, "-c", "import numpy, onnxruntime as ort; "
                 f"ort.InferenceSession({str(bundle / 'model.onnx')!r}, providers=['CPUExecutionProvider'])"]
        zoo = [sys.executable, "-m", "zoo", "predict", args.model]
        rows = []
        base = seconds(limit, args.repeats)
        rows.append(["import onnxruntime, numpy + session (the limit)", base, 0.0, "-"])
        signed, encrypted = protected_copies(bundle, tmp)
        image = str(tmp / "digit.png")
        copy = [sys.executable, "-m", "zoo", "predict"]
        for label, command in (("zoo predict NAME x.npy", zoo + [str(tmp / "x.npy")]),
                               ("zoo predict NAME digit.png", zoo + [image]),
                               ("signed copy, --public-key (signature checked first)",
                                copy + [str(signed), image, "--public-key", str(tmp / "signer.pem.pub")]),
                               ("encrypted copy, --key (decrypted in memory)",
                                copy + [str(encrypted), image, "--key", str(tmp / "recipient.pem")])):
            took = seconds(command, args.repeats)
            rows.append([label, took, took - base, "yes" if took - base <= GOAL_S else "no"])
    report("predict", ["what", "seconds (median)", "above the limit", f"within {GOAL_S} s"], rows,
           {"model": args.model, "repeats": args.repeats})


if __name__ == "__main__":
    main()
