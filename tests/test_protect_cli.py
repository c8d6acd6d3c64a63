"""Protected bundles from the command line: `zoo keygen`, `zoo encrypt`, then `zoo sign`; `zoo predict` and
`zoo verify` with the recipient's key give the unencrypted answers, the signature is checked before any
decryption, every failure is one line and exit 2; `zoo card --format cyclonedx` writes a valid ML-BOM."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from conftest import invoke_zoo, one_error_line, run_zoo
from onnx_support import copy_bundle

NAME = "cnn-digits"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    for name, extra in (("alice", []), ("bob", []), ("publisher", ["--signing"])):
        result = invoke_zoo("keygen", str(folder / f"{name}.pem"), *extra)
        assert result.code == 0, result.err
    return folder


@pytest.fixture(scope="module")
def protected(keys, tmp_path_factory):
    """A tiny cnn-digits bundle encrypted to alice and signed by the publisher, and its plain twin."""
    root = tmp_path_factory.mktemp("protected")
    plain = copy_bundle(NAME, root / "plain")
    secret = copy_bundle(NAME, root / "secret")
    assert invoke_zoo("encrypt", str(secret), "--to", str(keys / "alice.pem.pub")).code == 0
    signed = invoke_zoo("sign", str(secret), "--key", str(keys / "publisher.pem"))
    assert signed.code == 0, signed.err
    return plain, secret


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys):
    assert stat.S_IMODE(os.stat(keys / "alice.pem").st_mode) == 0o600
    again = invoke_zoo("keygen", str(keys / "alice.pem"))
    assert again.code == 2 and "exists; refusing to overwrite a key" in one_error_line(again.err)


def test_an_encrypted_signed_bundle_answers_like_the_plain_one_with_the_right_key(protected, keys, tmp_path,
                                                                                 without_torch):
    plain, secret = protected
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    want = run_zoo("predict", str(plain), str(tmp_path / "x.npy"), "--json", env=without_torch)
    got = run_zoo("predict", str(secret), str(tmp_path / "x.npy"), "--json", "--key", str(keys / "alice.pem"),
                  "--public-key", str(keys / "publisher.pem.pub"), env=without_torch)
    assert got.code == 0, got.err
    assert json.loads(got.out) == json.loads(want.out)
    verified = invoke_zoo("verify", str(secret), "--key", str(keys / "alice.pem"), "--batch-sizes", "2")
    assert verified.code == 0, verified.err
    payload = json.loads((secret / "manifest.json").read_text())["encryption"]["files"]
    assert {"model.onnx", "weights.safetensors", "test_data/model.npz"} <= set(payload)
    assert (secret / "model.onnx").read_bytes()[:1] != b"\x08"  # not a readable ONNX file on disk


@pytest.mark.parametrize("how, message", [
    ("no key", "its payload is encrypted; give a recipient's private key"),
    ("another key", "is not a recipient of this bundle"),
])
def test_without_the_right_key_it_is_one_line(protected, keys, tmp_path, how, message):
    _, secret = protected
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    extra = [] if how == "no key" else ["--key", str(keys / "bob.pem")]
    result = invoke_zoo("predict", str(secret), str(tmp_path / "x.npy"), *extra)
    assert result.code == 2 and message in one_error_line(result.err)


def test_the_signature_is_checked_before_any_decryption(protected, keys, tmp_path):
    _, secret = protected
    tampered = tmp_path / "tampered"
    import shutil

    shutil.copytree(secret, tampered)
    data = bytearray((tampered / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 1
    (tampered / "model.onnx").write_bytes(bytes(data))
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    result = invoke_zoo("predict", str(tampered), str(tmp_path / "x.npy"), "--key", str(keys / "alice.pem"),
                        "--public-key", str(keys / "publisher.pem.pub"))
    assert result.code == 2 and one_error_line(result.err) == (
        f"error: {tampered}: signature check failed: changed since signing: model.onnx")


def test_recipients_change_without_re_encrypting_the_payload(keys, tmp_path):
    bundle = copy_bundle(NAME, tmp_path / "b")
    assert invoke_zoo("encrypt", str(bundle), "--to", str(keys / "alice.pem.pub")).code == 0
    before = (bundle / "model.onnx").read_bytes()
    missing = invoke_zoo("encrypt", str(bundle), "--add", str(keys / "bob.pem.pub"))
    assert missing.code == 2 and "--add needs --key" in one_error_line(missing.err)
    added = invoke_zoo("encrypt", str(bundle), "--add", str(keys / "bob.pem.pub"), "--key", str(keys / "alice.pem"))
    assert added.code == 0, added.err
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    assert invoke_zoo("predict", str(bundle), str(tmp_path / "x.npy"), "--key", str(keys / "bob.pem")).code == 0
    assert invoke_zoo("encrypt", str(bundle), "--remove", str(keys / "alice.pem.pub")).code == 0
    gone = invoke_zoo("predict", str(bundle), str(tmp_path / "x.npy"), "--key", str(keys / "alice.pem"))
    assert gone.code == 2 and "not a recipient" in one_error_line(gone.err)
    assert (bundle / "model.onnx").read_bytes() == before
    twice = invoke_zoo("encrypt", str(bundle), "--to", str(keys / "alice.pem.pub"))
    assert twice.code == 2 and one_error_line(twice.err)


def test_zoo_card_writes_the_card_as_a_valid_cyclonedx_ml_bom(tiny_bundle, tmp_path):
    from zoo.cards.bom import validate_bom

    bom_path = tmp_path / "cnn.cdx.json"
    result = invoke_zoo("card", str(tiny_bundle(NAME)), "--format", "cyclonedx", "--out", str(bom_path))
    assert result.code == 0, result.err
    bom = json.loads(bom_path.read_text())
    validate_bom(bom)  # raises on any departure from CycloneDX 1.6
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == NAME
    manifest = json.loads((tiny_bundle(NAME) / "manifest.json").read_text())
    listed = {c["name"]: c["hashes"][0]["content"] for c in model.get("components", []) if c.get("hashes")}
    assert listed.get("model.onnx") == manifest["files"]["model.onnx"]
