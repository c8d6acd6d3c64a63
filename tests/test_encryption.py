"""Encrypted bundles (zoo.bundle.encryption): the committed cnn-digits bundle encrypted to X25519 keys, decrypted
into memory, run by ONNX Runtime from bytes; every way to tamper with it or use the wrong key is one line, and
nothing is written on failure, nor any plaintext file while decrypting."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import safetensors.numpy
from conftest import ROOT
from cryptography.hazmat.primitives.asymmetric import ec

from zoo.bundle import verify_checksums
from zoo.bundle.signing import key_facts
from zoo.bundle.encryption import (
    KEY_ENV,
    PASSPHRASE_ENV,
    SECTION,
    EncryptionError,
    add_recipient,
    check_section,
    decrypt_file,
    encrypt_bundle,
    encryption_facts,
    fingerprint,
    generate_keypair,
    load_private_key,
    load_public_key,
    open_encrypted,
    payload_files,
    remove_recipient,
    write_keypair,
)
from zoo.errors import ZooError

COMMITTED = ROOT / "exports" / "cnn-digits"
GRAPHS = ["model.onnx", "model.int8.onnx", "model.fp16.onnx"]
READABLE = ["manifest.json", "config.json", "export.log"]  # manifest.json: before encryption, compared below


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` and its SHA-256: what 'nothing written' compares."""
    return {p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def manifest_of(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def write_manifest(path: Path, manifest: dict) -> None:
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2))


def rerecord(path: Path, *names: str) -> None:
    """Make the manifest's (ciphertext) checksums match the named files again, as a hostile tool would."""
    manifest = manifest_of(path)
    for name in names:
        manifest["files"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    write_manifest(path, manifest)


def refused(call, *args, match: str, **kwargs) -> str:
    """``call`` fails with one EncryptionError line containing ``match``; returns the line."""
    with pytest.raises(EncryptionError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ZooError) and "\n" not in message and match in message, message
    return message


def refused_unchanged(path: Path, call, *args, match: str, **kwargs) -> str:
    """As ``refused``, and every file under ``path`` is byte for byte what it was."""
    before = tree(path)
    message = refused(call, *args, match=match, **kwargs)
    assert tree(path) == before
    return message


@pytest.fixture
def keypair(tmp_path):
    """Make X25519 key pairs in tmp_path by name (``alice``: plain; any other name, optionally a passphrase)."""
    def make(name: str, passphrase: str | None = None) -> Path:
        generate_keypair(tmp_path / "keys" / f"{name}.pem", passphrase=passphrase)
        return tmp_path / "keys" / f"{name}.pem"
    return make


def pub(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


@pytest.fixture
def alice(keypair):
    return keypair("alice")


@pytest.fixture
def encrypted(tmp_path, alice):
    """A copy of the committed cnn-digits bundle, encrypted to alice."""
    path = shutil.copytree(COMMITTED, tmp_path / "bundle")
    encrypt_bundle(path, [pub(alice)])
    return path


def test_encrypts_the_payload_and_keeps_manifest_config_log_and_card_readable(encrypted, alice):
    original, manifest = manifest_of(COMMITTED), manifest_of(encrypted)
    payload = payload_files(original)
    assert payload == sorted([*GRAPHS, "test_data/model.npz", "weights.safetensors"])
    for name in payload:
        plain, stored = (COMMITTED / name).read_bytes(), (encrypted / name).read_bytes()
        assert len(stored) == len(plain) + 16 and plain[:64] not in stored  # AES-GCM: same size plus the tag
        assert manifest["files"][name] == hashlib.sha256(stored).hexdigest()  # the ciphertext checksum
        assert manifest[SECTION]["files"][name]["plaintext_sha256"] == original["files"][name]
    for name in ["config.json", "export.log", *[p.relative_to(COMMITTED).as_posix()
                                                for p in (COMMITTED / "card").rglob("*") if p.is_file()]]:
        assert (encrypted / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    assert {k: v for k, v in manifest.items() if k not in ("files", SECTION)} == \
           {k: v for k, v in original.items() if k != "files"}
    section = manifest[SECTION]
    assert len({entry["nonce"] for entry in section["files"].values()}) == len(payload)  # a fresh nonce per file
    assert [r["key_id"] for r in section["recipients"]] == [fingerprint(load_public_key(pub(alice)))]
    assert encryption_facts(manifest) == {"status": "encrypted", "scheme": "zoo-encryption/1", "cipher": "AES-256-GCM",
                                          "key_wrap": section["key_wrap"], "files": payload,
                                          "recipients": [fingerprint(load_public_key(pub(alice)))]}
    assert encryption_facts(original) == {"status": "not encrypted"}
    verify_checksums(encrypted, manifest)  # the reader's checksum walk needs no key
    (encrypted / "model.onnx").write_bytes(b"\0" + (encrypted / "model.onnx").read_bytes()[1:])
    with pytest.raises(ZooError, match="checksum mismatch"):
        verify_checksums(encrypted, manifest)


def test_the_same_bundle_encrypted_twice_shares_no_key_nonce_or_ciphertext(tmp_path, alice):
    first, second = (shutil.copytree(COMMITTED, tmp_path / name) for name in ("one", "two"))
    for path in (first, second):
        encrypt_bundle(path, [pub(alice)])
    one, two = manifest_of(first)[SECTION], manifest_of(second)[SECTION]
    assert one["bundle_id"] != two["bundle_id"]
    assert one["recipients"][0]["wrapped_key"] != two["recipients"][0]["wrapped_key"]
    assert all(one["files"][n]["nonce"] != two["files"][n]["nonce"] and
               (first / n).read_bytes() != (second / n).read_bytes() for n in one["files"])


def test_onnx_runtime_gives_identical_outputs_from_the_decrypted_bytes(encrypted, alice):
    opened = open_encrypted(encrypted, manifest_of(encrypted), load_private_key(alice))
    with np.load(io.BytesIO(opened.read("test_data/model.npz")), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    with np.load(COMMITTED / "test_data" / "model.npz", allow_pickle=False) as archive:
        assert all(np.array_equal(arrays[name], archive[name]) for name in archive.files)
    inputs = {k.removeprefix("input."): v for k, v in arrays.items() if k.startswith("input.")}
    for name in GRAPHS:
        graph = opened.read(name)
        assert graph == (COMMITTED / name).read_bytes()
        from_bytes = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, inputs)
        from_file = ort.InferenceSession(str(COMMITTED / name), providers=["CPUExecutionProvider"]).run(None, inputs)
        assert all(np.array_equal(a, b) for a, b in zip(from_bytes, from_file)), name
    np.testing.assert_allclose(from_bytes[0], arrays["output.output"], atol=1e-2)  # fp16 vs PyTorch, loosely
    weights = safetensors.numpy.load(opened.read("weights.safetensors"))
    reference = safetensors.numpy.load_file(str(COMMITTED / "weights.safetensors"))
    assert weights.keys() == reference.keys() and all(np.array_equal(weights[k], reference[k]) for k in weights)


DECRYPT_AND_RUN = textwrap.dedent("""
    import io, json, sys
    from pathlib import Path
    from zoo.bundle.encryption import load_private_key, open_encrypted  # zoo first, as zoo's own commands do
    import numpy as np, onnxruntime as ort, safetensors.numpy
    bundle = Path(sys.argv[1])
    opened = open_encrypted(bundle, json.loads((bundle / "manifest.json").read_text()), load_private_key(sys.argv[2]))
    with np.load(io.BytesIO(opened.read("test_data/model.npz")), allow_pickle=False) as archive:
        inputs = {k[len("input."):]: archive[k] for k in archive.files if k.startswith("input.")}
    session = ort.InferenceSession(opened.read("model.onnx"), providers=["CPUExecutionProvider"])
    outputs = session.run(None, inputs)
    weights = safetensors.numpy.load(opened.read("weights.safetensors"))
    print(json.dumps({"argmax": outputs[0].argmax(1).tolist(), "tensors": len(weights)}))
""")


# ONNX Runtime >= 1.29 on Linux sends telemetry and keeps a device id and event cache in the home folder
# (microsoft/onnxruntime#27379) unless ORT_DISABLE_TELEMETRY=1, which importing zoo sets when it is unset.
WITHOUT_TELEMETRY_SETTING = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "CI")}


def _files_containing(roots: list[Path], markers: list[bytes], since: float) -> list[str]:
    found = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                file = Path(dirpath) / name
                try:
                    stat = file.stat()
                    # other processes' big files are not ours: what this one could write is a few MB at most
                    if file.is_symlink() or not file.is_file() or stat.st_mtime < since or stat.st_size > 64 << 20:
                        continue
                    data = file.read_bytes()
                except OSError:  # another process's file that vanished or is not ours to read
                    continue
                found += [str(file) for marker in markers if marker in data]
    return found


def test_decrypting_and_running_the_graph_writes_no_file(tmp_path, alice):
    """The plaintext graph and weights carry a marker no other file has; after a process decrypted them and
    ran the graph, no file anywhere under the temporary folders holds either marker, and the process
    created no file in its working folder, its home, its TMPDIR or the bundle (ONNX Runtime's telemetry files
    neither: zoo turns it off)."""
    import onnx

    marker_graph, marker_weights = (f"zoo-plaintext-{uuid.uuid4().hex}" for _ in range(2))
    path = shutil.copytree(COMMITTED, tmp_path / "bundle")
    graph = onnx.load(str(path / "model.onnx"))
    graph.doc_string = marker_graph
    onnx.save(graph, str(path / "model.onnx"))
    weights = safetensors.numpy.load_file(str(path / "weights.safetensors"))
    safetensors.numpy.save_file(weights, str(path / "weights.safetensors"), metadata={"marker": marker_weights})
    rerecord(path, "model.onnx", "weights.safetensors")
    encrypt_bundle(path, [pub(alice)])
    markers = [marker_graph.encode(), marker_weights.encode()]
    assert not _files_containing([path], markers, 0)  # the marked plaintext is gone from the bundle

    places = {name: tmp_path / name for name in ("cwd", "home", "tmp")}
    for place in places.values():
        place.mkdir()
    before, start = tree(path), time.time() - 1
    env = {**WITHOUT_TELEMETRY_SETTING, "TMPDIR": str(places["tmp"]), "HOME": str(places["home"]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", DECRYPT_AND_RUN, str(path), str(alice)], capture_output=True,
                          text=True, env=env, cwd=places["cwd"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    with np.load(COMMITTED / "test_data" / "model.npz", allow_pickle=False) as archive:
        assert result == {"argmax": archive["output.output"].argmax(1).tolist(), "tensors": len(weights)}
    assert tree(path) == before
    created = {f"{name}/{p.relative_to(place).as_posix()}" for name, place in places.items()
               for p in place.rglob("*") if p.is_file()}
    assert created == set(), created
    scanned = [Path(tempfile.gettempdir()), *[Path(p) for p in ("/dev/shm", "/var/tmp") if Path(p).is_dir()]]
    assert not _files_containing(scanned, markers, start)


def test_a_signing_key_or_a_key_of_the_wrong_kind_is_one_line(tmp_path, keys):
    path = shutil.copytree(COMMITTED, tmp_path / "bundle")
    refused(load_private_key, keys["publisher"], match="elliptic-curve key on secp256r1 (a signing key")
    signing = ec.generate_private_key(ec.SECP256R1())
    refused_unchanged(path, encrypt_bundle, path, [signing.public_key()], match="elliptic-curve key on secp256r1")
    refused_unchanged(path, encrypt_bundle, path, [keys["publisher"].with_suffix(".pub")],
                      match="elliptic-curve key on secp256r1 (a signing key")
    refused(load_public_key, keys["ed25519"].with_suffix(".pub"), match="a key of type Ed25519")
    refused(load_public_key, keys["publisher"], match="a private key; encrypt to the recipient's public key")
    refused(load_private_key, keys["publisher"].with_suffix(".pub"), match="a public key; decrypting needs")
    (tmp_path / "garbage.pem").write_text("not a key")
    refused(load_private_key, tmp_path / "garbage.pem", match="not a PEM private key")
    refused(load_public_key, tmp_path / "nowhere.pub", match="no such public key file")
    refused_unchanged(path, encrypt_bundle, path, [], match="no recipients")


def test_a_key_for_another_bundle_is_not_a_recipient_and_the_line_names_the_recipients(encrypted, alice, keypair):
    carol = keypair("carol")
    other = shutil.copytree(COMMITTED, encrypted.parent / "other")
    encrypt_bundle(other, [pub(carol)])
    decrypt_file(other, manifest_of(other), "model.onnx", carol)  # carol's key opens her bundle ...
    message = refused_unchanged(encrypted, decrypt_file, encrypted, manifest_of(encrypted), "model.onnx", carol,
                                match="is not a recipient of this bundle")  # ... not alice's
    assert fingerprint(load_public_key(pub(carol))) in message
    assert f"encrypted to {fingerprint(load_public_key(pub(alice)))}" in message


def test_a_wrapped_key_copied_from_another_bundle_does_not_open(encrypted, alice):
    other = shutil.copytree(COMMITTED, encrypted.parent / "other")
    encrypt_bundle(other, [pub(alice)])
    manifest = manifest_of(encrypted)
    manifest[SECTION]["recipients"] = manifest_of(other)[SECTION]["recipients"]  # same recipient, other bundle
    refused(open_encrypted, encrypted, manifest, alice, match="does not open with that key")


def test_a_flipped_byte_in_any_encrypted_file_is_refused(encrypted, alice):
    for name in payload_files(manifest_of(encrypted)):
        data = bytearray((encrypted / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (encrypted / name).write_bytes(bytes(data))
        opened = open_encrypted(encrypted, manifest_of(encrypted), alice)
        refused(opened.read, name, match="checksum mismatch")  # the manifest's ciphertext checksum, first
        rerecord(encrypted, name)  # then the checksum is forged too: the tag still fails
        opened = open_encrypted(encrypted, manifest_of(encrypted), alice)
        refused_unchanged(encrypted, opened.read, name, match="does not decrypt")


def test_two_encrypted_files_swapped_are_refused(encrypted, alice):
    one, two = encrypted / "model.onnx", encrypted / "model.int8.onnx"
    first, second = one.read_bytes(), two.read_bytes()
    one.write_bytes(second), two.write_bytes(first)
    rerecord(encrypted, "model.onnx", "model.int8.onnx")  # checksums follow the swap: the place in the AAD does not
    opened = open_encrypted(encrypted, manifest_of(encrypted), alice)
    for name in ("model.onnx", "model.int8.onnx"):
        refused(opened.read, name, match="does not decrypt")
    opened.read("weights.safetensors")  # the other files still decrypt


def test_edited_checksums_are_refused_both_ciphertext_and_plaintext(encrypted, alice):
    manifest = manifest_of(encrypted)
    manifest["files"]["model.onnx"] = "0" * 64
    refused(decrypt_file, encrypted, manifest, "model.onnx", alice, match="checksum mismatch")
    manifest = manifest_of(encrypted)
    manifest[SECTION]["files"]["model.onnx"]["plaintext_sha256"] = "0" * 64
    refused(open_encrypted, encrypted, manifest, alice, match="section changed since encryption")
    manifest = manifest_of(encrypted)
    manifest[SECTION]["files"]["weights.safetensors"]["nonce"] = manifest[SECTION]["files"]["model.onnx"]["nonce"]
    refused(open_encrypted, encrypted, manifest, alice, match="section changed since encryption")
    manifest = manifest_of(encrypted)
    manifest["model"] = "cnn-tiny-digits"  # the bundle renamed: the wrap binds the model name
    refused(open_encrypted, encrypted, manifest, alice, match="section changed since encryption")


def test_a_missing_or_empty_recipient_section_is_refused(encrypted, alice):
    manifest = manifest_of(encrypted)
    del manifest[SECTION]["recipients"]
    refused(open_encrypted, encrypted, manifest, alice, match="no recipients")
    manifest[SECTION]["recipients"] = []
    refused(open_encrypted, encrypted, manifest, alice, match="no recipients")
    del manifest[SECTION]
    refused(open_encrypted, encrypted, manifest, alice, match="not an encrypted bundle")
    write_manifest(encrypted, manifest)
    refused_unchanged(encrypted, add_recipient, encrypted, alice, pub(alice), match="not an encrypted bundle")


def test_an_unencrypted_payload_file_beside_encrypted_ones_is_refused(encrypted, alice):
    shutil.copy(COMMITTED / "model.int8.onnx", encrypted / "model.int8.onnx")  # plaintext in place of ciphertext
    manifest = manifest_of(encrypted)
    del manifest[SECTION]["files"]["model.int8.onnx"]
    write_manifest(encrypted, manifest)
    rerecord(encrypted, "model.int8.onnx")
    refused(open_encrypted, encrypted, manifest_of(encrypted), alice,
            match="unencrypted payload beside encrypted files: model.int8.onnx")
    refused(check_section, manifest_of(encrypted), match="unencrypted payload")  # no key needed to see it
    manifest = manifest_of(encrypted)
    manifest["pytorch"]["config"] = "model.int8.onnx"  # passed off as the readable config: a graph is payload still
    refused(check_section, manifest, match="unencrypted payload beside encrypted files: config.json, model.int8.onnx")


def test_the_decryptor_reads_listed_files_only(encrypted, alice):
    opened = open_encrypted(encrypted, manifest_of(encrypted), alice)
    assert opened.read("test_data/model.npz") == (COMMITTED / "test_data" / "model.npz").read_bytes()
    refused(opened.read, "config.json", match="'config.json' is not an encrypted file of this bundle")
    (encrypted / "model.onnx").unlink()
    refused(opened.read, "model.onnx", match="model.onnx: missing from the bundle")


def test_an_added_plaintext_graph_is_refused(encrypted, alice):
    shutil.copy(COMMITTED / "model.onnx", encrypted / "extra.onnx")
    manifest = manifest_of(encrypted)
    manifest["graphs"][0]["variants"]["extra"] = {"file": "extra.onnx"}
    write_manifest(encrypted, manifest)
    rerecord(encrypted, "extra.onnx")
    refused(open_encrypted, encrypted, manifest_of(encrypted), alice, match="unencrypted payload beside encrypted "
                                                                            "files: extra.onnx")


def test_encrypting_twice_or_a_damaged_bundle_is_refused_and_writes_nothing(encrypted, tmp_path, alice):
    refused_unchanged(encrypted, encrypt_bundle, encrypted, [pub(alice)], match="already encrypted (to sha256:")
    damaged = shutil.copytree(COMMITTED, tmp_path / "damaged")
    (damaged / "weights.safetensors").write_bytes(b"not the weights")
    refused_unchanged(damaged, encrypt_bundle, damaged, [pub(alice)], match="refusing to encrypt a damaged bundle")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_recipients_are_added_and_removed_without_touching_the_payload(encrypted, alice, keypair, monkeypatch):
    bob = keypair("bob", passphrase="correct horse")
    payload = {name: digest for name, digest in tree(encrypted).items() if name != "manifest.json"}
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    add_recipient(encrypted, alice, pub(bob))
    refused_unchanged(encrypted, add_recipient, encrypted, alice, pub(bob), match="is a recipient already")
    assert decrypt_file(encrypted, manifest_of(encrypted), "model.onnx", bob) == \
        (COMMITTED / "model.onnx").read_bytes()
    remove_recipient(encrypted, fingerprint(load_public_key(pub(alice))))
    assert {n: d for n, d in tree(encrypted).items() if n != "manifest.json"} == payload  # no payload byte changed
    refused(decrypt_file, encrypted, manifest_of(encrypted), "model.onnx", alice, match="is not a recipient")
    assert decrypt_file(encrypted, manifest_of(encrypted), "weights.safetensors", bob) == \
        (COMMITTED / "weights.safetensors").read_bytes()
    refused_unchanged(encrypted, remove_recipient, encrypted, pub(bob), match="is the only recipient")
    refused_unchanged(encrypted, remove_recipient, encrypted, pub(alice), match="is not a recipient (the recipients")
    refused_unchanged(encrypted, add_recipient, encrypted, alice, pub(alice), match="is not a recipient")


def test_key_pairs_private_keys_passphrases_and_environment_variables(tmp_path, monkeypatch):
    key = tmp_path / "deploy.pem"
    facts = generate_keypair(key, passphrase="s3cret")
    assert oct(key.stat().st_mode & 0o777) == "0o600" and pub(key).is_file()
    assert facts["key_id"] == fingerprint(load_public_key(pub(key)))
    before = tree(tmp_path)
    refused(generate_keypair, key, match="exists; refusing to overwrite a key")
    assert tree(tmp_path) == before
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    refused(load_private_key, key, match="passphrase-protected; give its passphrase")
    refused(load_private_key, key, "wrong", match="wrong passphrase")
    assert fingerprint(load_private_key(key, "s3cret").public_key()) == facts["key_id"]
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret")
    assert fingerprint(load_private_key(key).public_key()) == facts["key_id"]
    monkeypatch.setenv("DEPLOY_KEY_FILE", str(key))
    assert fingerprint(load_private_key("env:DEPLOY_KEY_FILE").public_key()) == facts["key_id"]
    monkeypatch.delenv(KEY_ENV, raising=False)
    refused(load_private_key, None, match=f"the environment variable {KEY_ENV} is not set")
    monkeypatch.setenv(KEY_ENV, str(key))
    assert fingerprint(load_private_key(None).public_key()) == facts["key_id"]
    refused(load_private_key, tmp_path / "missing.pem", match="no such private key file")
    replaced = generate_keypair(key, force=True)
    assert replaced["key_id"] != facts["key_id"] and replaced["passphrase"] == "no"
    assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_a_signing_key_written_here_is_one_zoo_signs_with_under_the_same_id(tmp_path):
    facts = write_keypair(ec.generate_private_key(ec.SECP256R1()), tmp_path / "publisher.pem")
    assert facts["algorithm"] == "EC secp256r1" and oct((tmp_path / "publisher.pem").stat().st_mode & 0o777) == "0o600"
    assert key_facts(tmp_path / "publisher.pem", private=True)["fingerprint"] == facts["key_id"] == \
        key_facts(tmp_path / "publisher.pem.pub")["fingerprint"]
