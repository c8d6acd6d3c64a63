"""Encrypted bundles: the payload encrypted at rest, readable only with a recipient's X25519 private key.

Why: a signature says who made a bundle and that nothing changed, but the graphs, the weights and
the test vectors drawn from the data stay readable by whoever holds the folder. Encrypting them lets
a publisher ship a model to named recipients only, while the manifest, the config and the card stay
readable and signable.

The scheme (``zoo-encryption/1``), all with ``cryptography``:

- one fresh random 256-bit data key per bundle encrypts every payload file with AES-256-GCM, a fresh
  random 96-bit nonce per file; the associated data binds the ciphertext to the bundle's model name,
  its ``bundle_id``, the file's relative path and its plaintext's SHA-256 (canonical JSON of the four), so a
  flipped byte, two files swapped or an edited checksum all fail the tag;
- the data key is wrapped once per recipient with HPKE (RFC 9180, base mode, single-shot:
  DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM); its ``info`` binds the wrap to this bundle:
  the model name, the ``bundle_id`` and the SHA-256 of the section's ``files`` map (nonces, plaintext
  checksums and sizes), so an edited section or a wrap copied from another bundle does not open;
- the manifest's ``files`` map holds the *ciphertext* checksums, so ``open_bundle``'s checksum walk and
  the signature check need no key and run before any decryption; the plaintext checksums live in the
  ``encryption`` section and inside each file's associated data.

The manifest section::

    "encryption": {
      "scheme": "zoo-encryption/1",
      "cipher": "AES-256-GCM",
      "key_wrap": "HPKE RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM",
      "bundle_id": "<32 hex digits, random>",
      "files": {"model.onnx": {"nonce": "<base64, 12 bytes>", "plaintext_sha256": "<hex>",
                               "plaintext_bytes": 399814}, ...},
      "recipients": [{"key_id": "sha256:<hex of the SHA-256 of the public key's PEM>", "wrapped_key": "<base64>"}]
    }

Payload: every file the manifest checksums except the PyTorch config it names (``pytorch.config``) and
logs (``*.log``): the graphs and their variants, their external data if any, the test vectors, the
weights. Unchecksummed files (the card, the signature) are not part of the bundle's payload.

Plaintext never touches the disk: ``Decryptor.read`` returns bytes (ONNX Runtime takes a graph as bytes,
safetensors and numpy read from memory). HPKE base mode does not say who encrypted: anyone with a
recipient's public key can make a bundle that decrypts, which is what the publisher's signature is for.
Removing a recipient re-wraps nothing and revokes nothing they already read: the data key stays the same.

Imports: ``cryptography``, the standard library, ``zoo.errors`` and ``zoo.fsutil`` (both below the bundle
reader, which may therefore import this module).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from zoo.errors import ZooError, one_line
from zoo.fsutil import atomic_write, atomic_write_json, read_json_object, replace_dir, staging_dir

MANIFEST = "manifest.json"  # zoo.bundle.MANIFEST: that module may import this one, so the name cannot come from it
SECTION = "encryption"
SCHEME = "zoo-encryption/1"
CIPHER = "AES-256-GCM"
KEY_WRAP = "HPKE RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM"
KEY_ENV = "ZOO_DECRYPTION_KEY"  # holds the path of the private key's PEM file when no key is given
PASSPHRASE_ENV = "ZOO_KEY_PASSPHRASE"
MAX_FILE_BYTES = (1 << 31) - 1  # cryptography's single-shot AES-GCM limit
_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_NONCE_BYTES = 12


class EncryptionError(ZooError):
    """An encrypted bundle or a key that cannot be used: wrong key, tampered file, damaged section."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError(f"damaged {SECTION} section: {what} is not base64") from None


# ---------------------------------------------------------------------------------------------- keys

def fingerprint(public_key: Any) -> str:
    """A key's id: ``sha256:`` and the SHA-256 of its PEM (SubjectPublicKeyInfo), the rule
    ``zoo.bundle.signing.key_facts`` follows for signing keys (so the same key has the same id in both)."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + _sha256(pem)


def _kind(key: Any) -> str:
    """What a key of the wrong kind is, in words: a signing key is the likely mix-up."""
    curve = getattr(getattr(key, "curve", None), "name", None)
    if curve:
        return f"an elliptic-curve key on {curve} (a signing key, not an encryption key)"
    return f"a key of type {type(key).__name__.removesuffix('PrivateKey').removesuffix('PublicKey')}"


def generate_keypair(private_path: str | Path, public_path: str | Path | None = None,
                     passphrase: str | bytes | None = None, force: bool = False) -> dict[str, str]:
    """Make an X25519 key pair for encryption and write it with ``write_keypair``; returns its facts."""
    return write_keypair(x25519.X25519PrivateKey.generate(), private_path, public_path, passphrase, force)


def write_keypair(key: Any, private_path: str | Path, public_path: str | Path | None = None,
                  passphrase: str | bytes | None = None, force: bool = False) -> dict[str, str]:
    """Write a private key (any kind ``cryptography`` makes: X25519 here, P-256 for ``zoo keygen``'s signing
    keys) as PKCS#8 PEM readable by its owner only (0600; encrypted when a passphrase is given) and its
    public key as PEM beside it (``<private>.pub`` unless named). Neither file is overwritten without
    ``force``; both names are checked before either is written. Returns the paths, the key id and kind.

    A passphrase is stretched with PBKDF2-HMAC-SHA256 at 2,048 rounds (OpenSSL's PKCS#8 default;
    cryptography's PKCS#8 writer offers no other): use a long random passphrase, or re-wrap the key with
    ``openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000``, which ``load_private_key`` reads as well."""
    private_path = Path(private_path)
    public_path = Path(public_path) if public_path else private_path.with_name(private_path.name + ".pub")
    if private_path == public_path:
        raise EncryptionError(f"{private_path}: the private and the public key need two files")
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise EncryptionError(f"{path} exists; refusing to overwrite a key (--force replaces it)")
    protection = (serialization.BestAvailableEncryption(_bytes(passphrase)) if passphrase
                  else serialization.NoEncryption())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)

    def owner_only(tmp: Path) -> None:
        os.chmod(tmp, 0o600)  # before the secret is written: the file is never readable by others
        tmp.write_bytes(private_pem)

    atomic_write(private_path, owner_only)
    atomic_write(public_path, lambda tmp: tmp.write_bytes(public_pem))
    curve = getattr(getattr(key, "curve", None), "name", None)
    return {"private_key": str(private_path), "public_key": str(public_path), "key_id": fingerprint(key.public_key()),
            "algorithm": f"EC {curve}" if curve else type(key).__name__.removesuffix("PrivateKey"),
            "passphrase": "yes" if passphrase else "no"}


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def key_file(source: str | Path | None) -> Path:
    """Where the private key is: a path, ``env:NAME`` (the environment variable NAME holds the path),
    or nothing (``$ZOO_DECRYPTION_KEY`` holds the path)."""
    if source is None or str(source).startswith("env:"):
        variable = KEY_ENV if source is None else str(source)[4:]
        value = os.environ.get(variable)
        if not value:
            raise EncryptionError(f"no private key: the environment variable {variable} is not set (it should hold "
                                  f"the path of your X25519 private key's PEM file)")
        return Path(value)
    return Path(source)


def load_private_key(source: str | Path | None, passphrase: str | bytes | None = None) -> x25519.X25519PrivateKey:
    """An X25519 private key from a PEM file (see ``key_file`` for ``source``); a passphrase-protected
    one takes ``passphrase`` or ``$ZOO_KEY_PASSPHRASE``. Anything else is one ``EncryptionError`` line."""
    path = key_file(source)
    if not path.is_file():
        raise EncryptionError(f"{path}: no such private key file")
    data = path.read_bytes()
    if passphrase is None:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    try:
        key = serialization.load_pem_private_key(data, password=_bytes(passphrase) if encrypted and passphrase
                                                 else None)
    except TypeError:  # encrypted, and no passphrase
        raise EncryptionError(f"{path}: the private key is passphrase-protected; give its passphrase (or set "
                              f"{PASSPHRASE_ENV})") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        if encrypted:
            raise EncryptionError(f"{path}: wrong passphrase for the private key (or a damaged key)") from None
        if b"PUBLIC KEY-----" in data:
            raise EncryptionError(f"{path}: a public key; decrypting needs the private key") from None
        raise EncryptionError(f"{path}: not a PEM private key ({one_line(exc)})") from None
    if not isinstance(key, x25519.X25519PrivateKey):
        raise EncryptionError(f"{path}: {_kind(key)}; bundles are encrypted to X25519 keys (zoo keygen makes one)")
    return key


def load_public_key(path: str | Path) -> x25519.X25519PublicKey:
    """A recipient's X25519 public key from a PEM file; anything else is one ``EncryptionError`` line."""
    path = Path(path)
    if not path.is_file():
        raise EncryptionError(f"{path}: no such public key file")
    data = path.read_bytes()
    if b"PRIVATE KEY-----" in data:
        raise EncryptionError(f"{path}: a private key; encrypt to the recipient's public key (keep private keys "
                              f"where they are)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise EncryptionError(f"{path}: not a PEM public key ({one_line(exc)})") from None
    if not isinstance(key, x25519.X25519PublicKey):
        raise EncryptionError(f"{path}: {_kind(key)}; bundles are encrypted to X25519 keys (zoo keygen makes one)")
    return key


def _public(key: x25519.X25519PublicKey | str | Path) -> x25519.X25519PublicKey:
    if isinstance(key, (str, Path)):
        return load_public_key(key)
    if not isinstance(key, x25519.X25519PublicKey):
        raise EncryptionError(f"{_kind(key)}; bundles are encrypted to X25519 keys (zoo keygen makes one)")
    return key


def _private(key: x25519.X25519PrivateKey | str | Path) -> x25519.X25519PrivateKey:
    if isinstance(key, (str, Path)):
        return load_private_key(key)
    if not isinstance(key, x25519.X25519PrivateKey):
        raise EncryptionError(f"{_kind(key)}; bundles are encrypted to X25519 keys (zoo keygen makes one)")
    return key


# ---------------------------------------------------------------------------------- manifest section

def is_encrypted(manifest: Mapping[str, Any]) -> bool:
    return SECTION in manifest


def _named_payload(manifest: Mapping[str, Any]) -> set[str]:
    """What the manifest names as graphs, variants, test vectors and weights: payload whatever the name."""
    named = set()
    for graph in manifest.get("graphs") or []:
        if isinstance(graph, dict):
            named |= {graph.get("file"), graph.get("test_data")}
            named |= {v.get("file") for v in (graph.get("variants") or {}).values() if isinstance(v, dict)}
    pytorch = manifest.get("pytorch")
    named.add(pytorch.get("weights") if isinstance(pytorch, dict) else None)
    return {name for name in named if isinstance(name, str)}


def payload_files(manifest: Mapping[str, Any]) -> list[str]:
    """The checksummed files that are encrypted: every file the manifest names as a graph, a variant, test
    vectors or weights, and any other checksummed file but the PyTorch config and logs (``*.log``)."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise EncryptionError("damaged manifest: no 'files' checksum map")
    pytorch = manifest.get("pytorch")
    config = pytorch.get("config") if isinstance(pytorch, dict) else None
    named = _named_payload(manifest)
    return sorted(name for name in files if name in named or (name != config and not str(name).endswith(".log")))


def plaintext_checksums(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every checksummed file's SHA-256 as it was before encryption (the manifest's own, when not encrypted)."""
    files = dict(manifest.get("files") or {})
    section = manifest.get(SECTION)
    if isinstance(section, dict) and isinstance(section.get("files"), dict):
        files.update({name: entry.get("plaintext_sha256") for name, entry in section["files"].items()
                      if isinstance(entry, dict)})
    return files


def recipient_ids(manifest: Mapping[str, Any]) -> list[str]:
    """The key ids the bundle is encrypted to (empty when it is not encrypted)."""
    section = manifest.get(SECTION)
    entries = section.get("recipients") if isinstance(section, dict) else None
    return [entry.get("key_id") for entry in entries or [] if isinstance(entry, dict)]


def encryption_facts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a card, ``zoo verify`` and ``zoo publish`` say about a bundle's encryption; no secret in it."""
    section = manifest.get(SECTION)
    if not isinstance(section, dict):
        return {"status": "not encrypted"}
    return {"status": "encrypted", "scheme": section.get("scheme"), "cipher": section.get("cipher"),
            "key_wrap": section.get("key_wrap"), "files": sorted(section.get("files") or {}),
            "recipients": recipient_ids(manifest)}


def _file_aad(model: str, bundle_id: str, name: str, plaintext_sha256: str) -> bytes:
    return _canonical({"scheme": SCHEME, "model": model, "bundle_id": bundle_id, "file": name,
                       "plaintext_sha256": plaintext_sha256})


def _wrap_info(model: str, bundle_id: str, files: Mapping[str, Any]) -> bytes:
    return _canonical({"scheme": SCHEME, "model": model, "bundle_id": bundle_id,
                       "files_sha256": _sha256(_canonical(files))})


def check_section(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The encryption section is whole and covers every payload file; needs no key, reads only the manifest.

    Returns the section. Refused (one line): no section, an unknown scheme, no recipients, a payload file
    the section does not list (an unencrypted file beside encrypted ones), a listed file the manifest does
    not checksum, a malformed entry.
    """
    section = manifest.get(SECTION)
    if not isinstance(section, dict):
        raise EncryptionError(f"not an encrypted bundle (the manifest has no '{SECTION}' section)")
    if section.get("scheme") != SCHEME:
        raise EncryptionError(f"encryption scheme {section.get('scheme')!r}; this zoo reads {SCHEME}")
    if section.get("cipher") != CIPHER or section.get("key_wrap") != KEY_WRAP:
        raise EncryptionError(f"damaged {SECTION} section: {SCHEME} is {CIPHER} with {KEY_WRAP}")
    if not isinstance(manifest.get("model"), str) or not isinstance(section.get("bundle_id"), str):
        raise EncryptionError(f"damaged {SECTION} section: no model name or bundle id")
    entries = section.get("recipients")
    if not isinstance(entries, list) or not entries:
        raise EncryptionError(f"damaged {SECTION} section: no recipients (nobody could decrypt it)")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key_id"), str) or "wrapped_key" not in entry:
            raise EncryptionError(f"damaged {SECTION} section: a recipient without a key id or wrapped key")
    files = section.get("files")
    if not isinstance(files, dict) or not files:
        raise EncryptionError(f"damaged {SECTION} section: no encrypted files listed")
    checksummed = manifest.get("files") or {}
    for name, entry in files.items():
        if name not in checksummed:
            raise EncryptionError(f"damaged {SECTION} section: {name!r} is listed as encrypted but the manifest "
                                  f"does not checksum it")
        if not isinstance(entry, dict) or not {"nonce", "plaintext_sha256", "plaintext_bytes"} <= set(entry):
            raise EncryptionError(f"damaged {SECTION} section: entry {name!r} needs nonce, plaintext_sha256 and "
                                  f"plaintext_bytes")
    plain = [name for name in payload_files(manifest) if name not in files]
    if plain:
        raise EncryptionError(f"unencrypted payload beside encrypted files: {', '.join(plain)} (not listed in the "
                              f"{SECTION} section; refusing to load plaintext from an encrypted bundle)")
    return section


@dataclass(frozen=True)
class Decryptor:
    """An encrypted bundle opened with one recipient's key: the data key, unwrapped once, in memory.

    ``read(name)`` returns a payload file's plaintext bytes, checked; nothing is written anywhere. In an
    encrypted bundle, read every graph, variant, test-vector and weights file through it, never from the
    file: it refuses a name the section does not list, so a plaintext file slipped in is never loaded.
    Open it on a manifest ``open_bundle`` has checked (every listed path stays inside the bundle).
    """

    path: Path
    manifest: Mapping[str, Any]
    key_id: str
    _aead: AESGCM = field(repr=False)

    def read(self, name: str) -> bytes:
        """The plaintext of payload file ``name``: its ciphertext checked against the manifest's checksum,
        decrypted and authenticated, its SHA-256 checked against the recorded one."""
        section = self.manifest[SECTION]
        entry = section["files"].get(name)
        if entry is None:
            raise EncryptionError(f"{self.path}: {name!r} is not an encrypted file of this bundle")
        file = self.path / name
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise EncryptionError(f"{file}: missing from the bundle") from None
        if _sha256(data) != self.manifest["files"].get(name):
            raise EncryptionError(f"{file}: checksum mismatch (tampered with or damaged since encryption)")
        nonce = _unb64(entry["nonce"], f"the nonce of {name!r}")
        aad = _file_aad(self.manifest["model"], section["bundle_id"], name, str(entry["plaintext_sha256"]))
        try:
            plaintext = self._aead.decrypt(nonce, data, aad)
        except (InvalidTag, ValueError):
            raise EncryptionError(f"{file}: does not decrypt (its bytes, its place in the bundle or its recorded "
                                  f"plaintext checksum changed since encryption)") from None
        if _sha256(plaintext) != entry["plaintext_sha256"] or len(plaintext) != entry["plaintext_bytes"]:
            raise EncryptionError(f"{file}: decrypted, but not to the recorded plaintext checksum")
        return plaintext


def _data_key(path: Path, manifest: Mapping[str, Any],
              private_key: x25519.X25519PrivateKey | str | Path) -> tuple[str, bytes]:
    """The key id of ``private_key`` and the data key it unwraps, after the section is checked."""
    section = check_section(manifest)
    key = _private(private_key)
    key_id = fingerprint(key.public_key())
    entry = next((e for e in section["recipients"] if e["key_id"] == key_id), None)
    if entry is None:
        raise EncryptionError(f"{path}: key {key_id} is not a recipient of this bundle (it is encrypted to "
                              f"{', '.join(recipient_ids(manifest))})")
    wrapped = _unb64(entry["wrapped_key"], f"the wrapped key of {key_id}")
    try:
        data_key = _SUITE.decrypt(wrapped, key, info=_wrap_info(manifest["model"], section["bundle_id"],
                                                                section["files"]))
    except (InvalidTag, ValueError):
        raise EncryptionError(f"{path}: the data key wrapped for {key_id} does not open with that key: the "
                              f"{SECTION} section changed since encryption (files, checksums, nonces, bundle id or "
                              f"model name) or the wrap belongs to another bundle") from None
    if len(data_key) != 32:
        raise EncryptionError(f"{path}: the wrapped data key is not 256 bits")
    return key_id, data_key


def open_encrypted(path: str | Path, manifest: Mapping[str, Any],
                   private_key: x25519.X25519PrivateKey | str | Path) -> Decryptor:
    """Unwrap the bundle's data key once with ``private_key`` (a key, or a PEM path; the section is checked
    first) and return the ``Decryptor`` that reads payload files with it.

    A key that is not a recipient is refused naming the recipients' key ids; a wrap that does not open
    (an edited section, a wrap copied from another bundle) is refused too. Nothing is written.
    """
    path = Path(path)
    key_id, data_key = _data_key(path, manifest, private_key)
    return Decryptor(path, manifest, key_id, AESGCM(data_key))


def decrypt_file(path: str | Path, manifest: Mapping[str, Any], name: str,
                 private_key: x25519.X25519PrivateKey | str | Path) -> bytes:
    """One payload file's plaintext, into memory only (``open_encrypted(...).read(name)``; to read several
    files, open once and call ``read`` for each: the key is unwrapped once)."""
    return open_encrypted(path, manifest, private_key).read(name)


# ------------------------------------------------------------------------------------------- writers

def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.is_file():
        raise EncryptionError(f"{path}: not a zoo ONNX bundle (no {MANIFEST})")
    manifest = read_json_object(file, EncryptionError, "manifest")
    if not isinstance(manifest.get("model"), str):
        raise EncryptionError(f"{file}: damaged manifest (no model name)")
    return manifest


def _wrap(data_key: bytes, key: x25519.X25519PublicKey, info: bytes) -> dict[str, str]:
    return {"key_id": fingerprint(key), "wrapped_key": _b64(_SUITE.encrypt(data_key, key, info=info))}


def encrypt_bundle(path: str | Path,
                   recipients: Iterable[x25519.X25519PublicKey | str | Path]) -> dict[str, Any]:
    """Encrypt every payload file of the bundle at ``path`` to ``recipients`` (public keys or PEM paths).

    The new bundle is built in a staging folder beside it (readable files copied, payload encrypted,
    the manifest rewritten) and replaces the old one in one rename: a failure at any point leaves the
    bundle as it was. Each plaintext is checked against the manifest's checksum before it is encrypted.
    A signature made before encrypting no longer matches: sign after encrypting. Returns a summary.
    """
    path = Path(path)
    manifest = _read_manifest(path)
    if is_encrypted(manifest):
        raise EncryptionError(f"{path}: already encrypted (to {', '.join(recipient_ids(manifest)) or 'nobody'}); add "
                              f"or remove recipients instead of encrypting twice")
    keys = {fingerprint(k): k for k in map(_public, recipients)}
    if not keys:
        raise EncryptionError(f"{path}: no recipients: name at least one X25519 public key to encrypt to")
    model, bundle_id, data_key = manifest["model"], os.urandom(16).hex(), AESGCM.generate_key(bit_length=256)
    aead = AESGCM(data_key)
    ciphertexts, entries, files = {}, {}, dict(manifest["files"])
    for name in payload_files(manifest):
        file = path / name
        try:
            plaintext = file.read_bytes()
        except FileNotFoundError:
            raise EncryptionError(f"{file}: missing from the bundle") from None
        digest = _sha256(plaintext)
        if digest != files[name]:
            raise EncryptionError(f"{file}: checksum mismatch (tampered with or damaged since export); refusing to "
                                  f"encrypt a damaged bundle")
        if len(plaintext) > MAX_FILE_BYTES:
            raise EncryptionError(f"{file}: {len(plaintext)} bytes; AES-GCM encrypts at most 2 GiB per file in one go")
        nonce = os.urandom(_NONCE_BYTES)
        ciphertexts[name] = aead.encrypt(nonce, plaintext, _file_aad(model, bundle_id, name, digest))
        entries[name] = {"nonce": _b64(nonce), "plaintext_sha256": digest, "plaintext_bytes": len(plaintext)}
        files[name] = _sha256(ciphertexts[name])
    if not entries:
        raise EncryptionError(f"{path}: nothing to encrypt (the manifest checksums no payload file)")
    info = _wrap_info(model, bundle_id, entries)
    section = {"scheme": SCHEME, "cipher": CIPHER, "key_wrap": KEY_WRAP, "bundle_id": bundle_id, "files": entries,
               "recipients": [_wrap(data_key, key, info) for key in keys.values()]}
    _replace_bundle(path, {**manifest, "files": files, SECTION: section}, ciphertexts)
    return {"status": "encrypted", "files": sorted(entries), "recipients": list(keys), "scheme": SCHEME}


def _replace_bundle(path: Path, manifest: dict[str, Any], ciphertexts: Mapping[str, bytes]) -> None:
    """The bundle with ``ciphertexts`` in place of its payload and ``manifest`` as its manifest, put in
    place in one rename; the plaintext files are never copied."""
    tmp = staging_dir(path)
    try:
        shutil.copymode(path, tmp)
        for source in sorted(path.rglob("*")):
            name = source.relative_to(path).as_posix()
            target = tmp / name
            if source.is_dir() and not source.is_symlink():
                target.mkdir(parents=True, exist_ok=True)
            elif name in ciphertexts:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(ciphertexts[name])
            elif name != MANIFEST:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target, follow_symlinks=False)
        atomic_write_json(tmp / MANIFEST, manifest)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_recipient(path: str | Path, private_key: x25519.X25519PrivateKey | str | Path,
                  new_public_key: x25519.X25519PublicKey | str | Path) -> dict[str, Any]:
    """Wrap the bundle's data key for one more recipient; needs a current recipient's private key.

    Only the manifest is rewritten (atomically): no payload file changes. Re-sign afterwards.
    """
    path = Path(path)
    manifest = _read_manifest(path)
    _, data_key = _data_key(path, manifest, private_key)
    section = manifest[SECTION]
    new_key = _public(new_public_key)
    key_id = fingerprint(new_key)
    if key_id in recipient_ids(manifest):
        raise EncryptionError(f"{path}: {key_id} is a recipient already")
    info = _wrap_info(manifest["model"], section["bundle_id"], section["files"])
    section = {**section, "recipients": [*section["recipients"], _wrap(data_key, new_key, info)]}
    atomic_write_json(path / MANIFEST, {**manifest, SECTION: section})
    return {"status": "recipient added", "key_id": key_id, "recipients": recipient_ids({SECTION: section})}


def remove_recipient(path: str | Path, recipient: x25519.X25519PublicKey | str | Path) -> dict[str, Any]:
    """Drop one recipient's wrapped key (``recipient``: a key id ``sha256:...``, a public key or its PEM path).

    Needs no private key; the last recipient is never removed (nobody could decrypt the bundle). This
    does not revoke what that recipient already read: the data key is unchanged.
    """
    path = Path(path)
    manifest = _read_manifest(path)
    section = check_section(manifest)
    by_id = isinstance(recipient, str) and recipient.startswith("sha256:")
    key_id = recipient if by_id else fingerprint(_public(recipient))
    have = recipient_ids(manifest)
    if key_id not in have:
        raise EncryptionError(f"{path}: {key_id} is not a recipient (the recipients are {', '.join(have)})")
    if have == [key_id]:
        raise EncryptionError(f"{path}: {key_id} is the only recipient; removing it would leave nobody able to "
                              f"decrypt the bundle (add another recipient first)")
    section = {**section, "recipients": [e for e in section["recipients"] if e["key_id"] != key_id]}
    atomic_write_json(path / MANIFEST, {**manifest, SECTION: section})
    return {"status": "recipient removed", "key_id": key_id, "recipients": recipient_ids({SECTION: section})}
