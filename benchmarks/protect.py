"""What encryption at rest costs: encrypting each published bundle, decrypting it, and predict-style latency.

For a copy of each bundle in exports/ (encrypted to a fresh X25519 key):
- encrypt_ms: ``encrypt_bundle`` on a fresh copy (all payload files, the staging copy and the rename);
- unwrap_ms: ``open_encrypted`` (section check, HPKE unwrap of the data key), once per load;
- decrypt_all_ms: unwrap plus reading every payload file into memory (graphs, variants, test vectors, weights);
- load_plain_ms / load_encrypted_ms: what ``zoo predict`` pays per process for the primary FP32 graph: session
  from the plain file plus one batch-1 run, against unwrap + decrypt the graph into memory + session from bytes
  plus one batch-1 run;
- request_plain_ms / request_encrypted_ms: one batch-1 run on an open session (decryption is not paid again).
One ONNX Runtime thread; medians (zoo.bundle.deployment.median_seconds). A passphrase-protected private key adds
its key-derivation time once per load (key_ms below the table).
Run: python benchmarks/protect.py [--bundles a,b] [--budget SECONDS] [--repeats N]
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import report  # noqa: E402

from zoo.bundle import open_bundle  # noqa: E402
from zoo.bundle.deployment import median_seconds  # noqa: E402
from zoo.bundle.encryption import (  # noqa: E402
    encrypt_bundle,
    generate_keypair,
    load_private_key,
    open_encrypted,
    payload_files,
)

EXPORTS = Path(__file__).resolve().parents[1] / "exports"


def _session(source: str | bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _first_sample(npz: bytes | Path) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(npz) if isinstance(npz, bytes) else npz, allow_pickle=False) as archive:
        return {k.removeprefix("input."): archive[k][:1] for k in archive.files if k.startswith("input.")}


def measure(source: Path, folder: Path, key: Path, budget: float, repeats: int) -> list:
    plain = open_bundle(source)
    graph = plain.graph()
    payload = payload_files(plain.manifest)
    copies = []
    for i in range(repeats):
        copy = shutil.copytree(source, folder / f"{source.name}-{i}")
        start = time.perf_counter()
        encrypt_bundle(copy, [key.with_name(key.name + ".pub")])
        copies.append((time.perf_counter() - start, copy))
    encrypt_s, encrypted = statistics.median(t for t, _ in copies), copies[0][1]
    manifest = json.loads((encrypted / "manifest.json").read_text())
    private = load_private_key(key)

    unwrap_s = median_seconds(lambda: open_encrypted(encrypted, manifest, private), budget)

    def decrypt_all():
        opened = open_encrypted(encrypted, manifest, private)
        return [opened.read(name) for name in payload]

    decrypt_all_s = median_seconds(decrypt_all, budget)
    inputs = _first_sample(graph.root / graph.entry["test_data"])
    decrypted = _first_sample(open_encrypted(encrypted, manifest, private).read(graph.entry["test_data"]))
    assert all(np.array_equal(inputs[k], decrypted[k]) for k in inputs)

    def load_plain():
        session = _session(str(graph.path))
        session.run(None, inputs)
        return session

    def load_encrypted():
        session = _session(open_encrypted(encrypted, manifest, private).read(graph.entry["file"]))
        session.run(None, inputs)
        return session

    load_plain_s, load_encrypted_s = median_seconds(load_plain, budget), median_seconds(load_encrypted, budget)
    from_file, from_bytes = load_plain(), load_encrypted()
    assert all(np.array_equal(a, b) for a, b in zip(from_file.run(None, inputs), from_bytes.run(None, inputs)))
    request_plain_s = median_seconds(lambda: from_file.run(None, inputs), budget)
    request_encrypted_s = median_seconds(lambda: from_bytes.run(None, inputs), budget)
    payload_bytes = sum((source / name).stat().st_size for name in payload)
    graph_bytes = graph.path.stat().st_size
    return [source.name, len(payload), payload_bytes / 1e6, graph_bytes / 1e6, encrypt_s * 1e3, unwrap_s * 1e3,
            decrypt_all_s * 1e3, load_plain_s * 1e3, load_encrypted_s * 1e3, (load_encrypted_s - load_plain_s) * 1e3,
            request_plain_s * 1e3, request_encrypted_s * 1e3]


def key_times(folder: Path, budget: float) -> dict[str, float]:
    """Loading the private key: a plain PEM, and a passphrase-protected one (its KDF runs on every load)."""
    generate_keypair(folder / "plain.pem")
    passphrase = "correct horse battery staple"
    generate_keypair(folder / "protected.pem", passphrase=passphrase)
    return {"plain_pem_ms": median_seconds(lambda: load_private_key(folder / "plain.pem"), budget) * 1e3,
            "passphrase_pem_ms": median_seconds(lambda: load_private_key(folder / "protected.pem", passphrase),
                                                budget) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", help="comma-separated bundle names in exports/ (default: all)")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds of timing per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="fresh copies encrypted per bundle (median)")
    args = parser.parse_args()
    names = args.bundles.split(",") if args.bundles else sorted(p.parent.name for p in EXPORTS.glob("*/manifest.json"))
    with tempfile.TemporaryDirectory(prefix="zoo-protect-") as tmp:
        folder = Path(tmp)
        generate_keypair(folder / "deploy.pem")
        rows = [measure(EXPORTS / name, folder, folder / "deploy.pem", args.budget, args.repeats) for name in names]
        keys = key_times(folder, args.budget)
    report("protect", ["bundle", "files", "payload_MB", "graph_MB", "encrypt_ms", "unwrap_ms", "decrypt_all_ms",
                       "load_plain_ms", "load_encrypted_ms", "load_overhead_ms", "request_plain_ms",
                       "request_encrypted_ms"], rows,
           {"key_ms": keys, "threads": 1, "onnxruntime": ort.__version__,
            "statistic": "median ms (zoo.bundle.deployment.median_seconds); encrypt_ms: median over --repeats "
                         "fresh copies",
            "load": "session creation + one batch-1 run of the primary FP32 graph; encrypted: + unwrap + decrypt the "
                    "graph into memory, session from bytes"})
    print(f"private key load: plain PEM {keys['plain_pem_ms']:.3g} ms, passphrase-protected PEM "
          f"{keys['passphrase_pem_ms']:.3g} ms (once per load)")


if __name__ == "__main__":
    main()
