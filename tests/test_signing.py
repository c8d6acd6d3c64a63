"""Signed bundles (OpenSSF model-signing): `zoo sign`, then `zoo verify` / `zoo predict` with --public-key; every
way a bundle can differ from what was signed is one `error:` line and exit 2, and the deployer's path stays
torch-free."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke_zoo, one_error_line, run_zoo
from onnx_support import copy_bundle, resign

from zoo.bundle import open_bundle
from zoo.bundle.signing import SIGNATURE, SignatureError, key_facts, sign, verify_signature


@pytest.fixture
def signed(tmp_path, keys):
    """A private copy of the tiny CNN bundle, signed with the publisher's key."""
    path = copy_bundle("cnn-digits", tmp_path / "bundle")
    result = invoke_zoo("sign", str(path), "--key", str(keys["publisher"]))
    assert result.code == 0, result.err
    return path


def pub(keys, name="publisher") -> str:
    return str(keys[name].with_suffix(".pub"))


def test_sign_then_verify_passes_offline_and_names_the_key(signed, keys):
    fingerprint = key_facts(keys["publisher"], private=True)["fingerprint"]
    assert fingerprint == key_facts(pub(keys))["fingerprint"] and fingerprint.startswith("sha256:")
    signature = json.loads((signed / SIGNATURE).read_text())
    assert "sha256:" + signature["verificationMaterial"]["publicKey"]["hint"] == fingerprint  # model-signing's own hint
    result = invoke_zoo("verify", str(signed), "--public-key", pub(keys), "--batch-sizes", "2", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["passed"] and report["signature"] == {"status": "verified", "signature": SIGNATURE,
                                                        "fingerprint": fingerprint, "algorithm": "ECDSA P-256",
                                                        "library": "model-signing 1.1.1"}


def _flip_a_byte(path: Path) -> str:
    data = bytearray((path / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / "model.onnx").write_bytes(bytes(data))
    return "signature check failed: changed since signing: model.onnx"


def _tamper_and_rewrite_the_checksums(path: Path) -> str:
    """What the manifest's checksums alone cannot catch: the attacker rewrites them too."""
    _flip_a_byte(path)
    resign(path)
    return "signature check failed: changed since signing: manifest.json, model.onnx"


def _add_a_file(path: Path) -> str:
    (path / "card").mkdir(exist_ok=True)
    (path / "card" / "notes.txt").write_text("not signed")
    return "signature check failed: added since signing: card/notes.txt"


def _remove_the_signature(path: Path) -> str:
    (path / SIGNATURE).unlink()
    return f"not signed (no {SIGNATURE}); --public-key accepts only a bundle signed with that key"


def _garble_the_signature(path: Path) -> str:
    import base64

    envelope = json.loads((path / SIGNATURE).read_text())
    signature = bytearray(base64.b64decode(envelope["dsseEnvelope"]["signatures"][0]["sig"]))
    signature[-1] ^= 0x01  # the last byte of the ECDSA signature's s: still well-formed, no longer valid
    envelope["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    (path / SIGNATURE).write_text(json.dumps(envelope))
    return f"signature check failed: {SIGNATURE} does not verify with this key (damaged or forged)"


def _replace_the_signature_with_junk(path: Path) -> str:
    (path / SIGNATURE).write_text("not a signature")
    return f"signature check failed: {SIGNATURE} could not be checked (JSONDecodeError: "


@pytest.mark.parametrize("damage", [_flip_a_byte, _tamper_and_rewrite_the_checksums, _add_a_file,
                                    _remove_the_signature, _garble_the_signature, _replace_the_signature_with_junk])
def test_a_bundle_that_differs_from_what_was_signed_is_one_line_and_exit_2(signed, keys, damage):
    expected = f"error: {signed}: {damage(signed)}"
    for command in (["verify", str(signed)], ["predict", str(signed), "unused.npy"]):
        result = invoke_zoo(*command, "--public-key", pub(keys))
        assert result.code == 2 and result.out == ""
        assert one_error_line(result.err).startswith(expected), result.err


def test_the_wrong_key_is_one_line_naming_both_keys(signed, keys):
    result = invoke_zoo("verify", str(signed), "--public-key", pub(keys, "other"))
    assert result.code == 2
    assert one_error_line(result.err) == (
        f"error: {signed}: signature check failed: signed with another key "
        f"({key_facts(pub(keys))['fingerprint']}), not {key_facts(pub(keys, 'other'))['fingerprint']}")


def test_an_unsigned_bundle_with_a_public_key_is_refused(tmp_path, keys):
    path = copy_bundle("cnn-digits", tmp_path / "b")
    result = invoke_zoo("verify", str(path), "--public-key", pub(keys))
    assert result.code == 2 and one_error_line(result.err) == (
        f"error: {path}: not signed (no {SIGNATURE}); --public-key accepts only a bundle signed with that key")


def test_keys_model_signing_cannot_use_are_refused_with_one_line(tmp_path, keys):
    path = copy_bundle("cnn-digits", tmp_path / "b")
    for key, why in [(keys["ed25519"], "model-signing takes elliptic-curve keys on P-256, P-384 or P-521 only"),
                     (Path(pub(keys)), "not a PEM private key"), (tmp_path / "none.pem", "no such private key file")]:
        result = invoke_zoo("sign", str(path), "--key", str(key))
        assert result.code == 2 and one_error_line(result.err).startswith(f"error: {key}: {why}")
    assert not (path / SIGNATURE).exists()
    with pytest.raises(SignatureError, match="not a PEM public key"):
        verify_signature(path, keys["publisher"])


def test_a_damaged_bundle_is_never_signed(tmp_path, keys):
    path = copy_bundle("cnn-digits", tmp_path / "b")
    (path / "export.log").write_text("changed after export")
    result = invoke_zoo("sign", str(path), "--key", str(keys["publisher"]))
    assert result.code == 2 and "export.log: checksum mismatch" in one_error_line(result.err)
    assert not (path / SIGNATURE).exists()


def test_predict_checks_the_signature_without_torch(signed, keys, tmp_path, without_torch):
    inputs, outputs = open_bundle(signed).graph().test_vectors()
    np.save(tmp_path / "x.npy", inputs["input"])
    ok = run_zoo("predict", str(signed), str(tmp_path / "x.npy"), "--raw", "--public-key", pub(keys), "--out",
                 str(tmp_path / "y.npy"), env=without_torch)
    assert ok.code == 0, ok.err
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), outputs["output"], atol=1e-5, rtol=1e-4)
    expected = f"error: {signed}: {_flip_a_byte(signed)}"
    tampered = run_zoo("predict", str(signed), str(tmp_path / "x.npy"), "--public-key", pub(keys), env=without_torch)
    assert tampered.code == 2 and one_error_line(tampered.err) == expected


def test_model_signing_does_not_import_torch():
    code = ("import sys, model_signing, model_signing.signing, model_signing.verifying, zoo.bundle.signing; "
            "assert not [m for m in sys.modules if m == 'torch' or m.startswith('torch.')], 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_card_names_the_key_and_is_inside_what_is_signed(tmp_path, keys):
    from zoo.cards.writer import write_card

    path = copy_bundle("cnn-digits", tmp_path / "b")
    write_card(path, ["md", "json"])
    assert "**Signature:** not signed" in (path / "card" / "card.md").read_text()
    assert invoke_zoo("sign", str(path), "--key", str(keys["publisher"])).code == 0
    fingerprint = key_facts(pub(keys))["fingerprint"]
    card = (path / "card" / "card.md").read_text()
    assert f"**Signature:** signed with model-signing 1.1.1 (ECDSA P-256), key fingerprint `{fingerprint}`" in card
    assert json.loads((path / "card" / "card.json").read_text())["bundle"]["signature"]["fingerprint"] == fingerprint
    assert verify_signature(path, pub(keys))["status"] == "verified"
    write_card(path, ["md"])  # a card rewritten after signing: the card says so, and the signature no longer holds
    assert "**Signature:** not valid: the bundle's signature predates this card" in (path / "card" / "card.md").read_text()
    with pytest.raises(SignatureError, match="changed since signing: card/card.md"):
        verify_signature(path, pub(keys))
    assert sign(path, keys["publisher"])["status"] == "signed"
