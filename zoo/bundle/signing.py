"""Signed bundles: an OpenSSF ``model-signing`` signature over every file of a bundle, card included.

Why a signature beside the checksums: the manifest's checksums are the publisher's own claim,
written in the same folder, so whoever can change a file can rewrite them too. A signature can only
be made with the publisher's private key, and the deployer checks it with the public key they got
from the publisher by another channel.

``sign`` writes ``bundle.sig``: a Sigstore bundle holding a DSSE envelope over an in-toto statement
that lists the SHA-256 of every file in the bundle's folder, signed offline with an elliptic-curve
private key (P-256, P-384 or P-521: the only keys model-signing takes). ``verify_signature`` checks
it before anything else of the bundle is read: a changed, added or removed file, a signature made
with another key, or no signature at all is a ``SignatureError`` (one line, exit 2).

Two traps of model-signing 1.1.1, handled here once: its Python API (unlike its CLI) hashes its own
signature file unless told to ignore it, and it ignores git files by default; a bundle is no
repository, so that is turned off and every other file counts. It is imported only when signing or
checking: it costs about 0.4 s and does not import torch (a test holds it), so the deployer's path
(``zoo predict --public-key``) stays torch-free.

A key's fingerprint is ``sha256:`` and the SHA-256 of its public key in PEM (SubjectPublicKeyInfo),
the hint model-signing writes into every signature, so a card's fingerprint can be compared with a
signature's and with the key a deployer holds.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from zoo.bundle import BundleError
from zoo.errors import one_line

SIGNATURE = "bundle.sig"
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
MAKE_KEY = "openssl ecparam -name prime256v1 -genkey -noout -out key.pem"


class SignatureError(BundleError):
    """A bundle's signature is missing, does not match its files, or was made with another key."""


def library() -> str:
    """The signing library and its version, as reports and cards name it."""
    from importlib.metadata import version

    return f"model-signing {version('model-signing')}"


def read_key(path: str | Path, private: bool):
    """An elliptic-curve key from a PEM file, refused with one line if it is anything else."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path, kind = Path(path), "private" if private else "public"
    if not path.is_file():
        raise SignatureError(f"{path}: no such {kind} key file")
    data = path.read_bytes()
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except TypeError:
        raise SignatureError(f"{path}: the private key is encrypted; zoo signs with an unencrypted PEM key "
                             f"(keep it on the signing machine only)") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"{path}: not a PEM {kind} key ({one_line(exc)})") from None
    wanted = ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey
    if not isinstance(key, wanted) or key.curve.name not in CURVES:
        raise SignatureError(f"{path}: model-signing takes elliptic-curve keys on P-256, P-384 or P-521 only "
                             f"(make one with: {MAKE_KEY})")
    return key


def key_facts(path: str | Path, private: bool = False) -> dict[str, str]:
    """What a card and a report say about a key: its fingerprint and algorithm (no secret in either)."""
    from cryptography.hazmat.primitives import serialization

    key = read_key(path, private)
    public = key.public_key() if private else key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"fingerprint": "sha256:" + hashlib.sha256(pem).hexdigest(), "algorithm": f"ECDSA {CURVES[key.curve.name]}"}


def _hashing():
    import model_signing

    return model_signing.hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def sign(bundle: str | Path, private_key: str | Path) -> dict[str, Any]:
    """Sign every file of ``bundle`` (whose checksums must hold) into ``bundle/bundle.sig``; offline."""
    import model_signing

    from zoo.bundle import open_bundle
    from zoo.fsutil import atomic_write_bytes

    path = open_bundle(bundle).path  # never sign a bundle that is already damaged
    facts = key_facts(private_key, private=True)
    with contextlib.redirect_stdout(io.StringIO()):
        with tempfile.TemporaryDirectory(prefix="zoo-sign-") as tmp:
            try:
                (model_signing.signing.Config().use_elliptic_key_signer(private_key=Path(private_key))
                 .set_hashing_config(_hashing()).sign(path, Path(tmp) / SIGNATURE))
            except Exception as exc:
                raise SignatureError(f"{path}: signing failed ({one_line(exc)})") from None
            atomic_write_bytes(path / SIGNATURE, (Path(tmp) / SIGNATURE).read_bytes())
    return {"status": "signed", "signature": SIGNATURE, **facts, "library": library()}


def _signer_hint(signature: Path) -> str | None:
    try:
        return "sha256:" + json.loads(signature.read_text())["verificationMaterial"]["publicKey"]["hint"]
    except Exception:
        return None


def _mismatch(message: str) -> str:
    """model-signing's list of differences as one short clause: what changed, was added, went missing."""
    try:
        diffs = ast.literal_eval(message.removeprefix("Signature mismatch: "))
    except (ValueError, SyntaxError):
        return message
    found: dict[str, list[str]] = {}
    for diff in diffs:
        changed = re.match(r"Hash mismatch for '(.+?)':", diff)
        if changed:
            found.setdefault("changed since signing", []).append(changed.group(1))
        elif diff.startswith(("Extra files", "Missing files")):
            kind = "added since signing" if diff.startswith("Extra") else "missing since signing"
            found.setdefault(kind, []).extend(diff.split(": ", 1)[1].split(", "))
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in found.items()) or message


def signature_mismatch(bundle: str | Path) -> str | None:
    """Without any key: whether ``bundle.sig`` still lists exactly the bundle's files with their SHA-256
    (None), else what differs (``added since signing: card/notes.txt``). This is the integrity half of a
    signature check, for an index that must not call a bundle signed when its signature no longer covers
    it; whose signature it is takes the publisher's public key (``verify_signature``)."""
    import base64

    path = Path(bundle)
    try:
        envelope = json.loads((path / SIGNATURE).read_text(encoding="utf-8"))["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        listed = {r["name"]: r["digest"] for r in statement["predicate"]["resources"]
                  if r.get("algorithm") == "sha256"}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{SIGNATURE} is unreadable ({one_line(exc)})"
    from zoo.fsutil import sha256_file

    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and p.name != SIGNATURE}
    found = {"changed since signing": sorted(n for n in present & set(listed) if sha256_file(path / n) != listed[n]),
             "added since signing": sorted(present - set(listed)),
             "missing since signing": sorted(set(listed) - present)}
    return "; ".join(f"{kind}: {', '.join(names)}" for kind, names in found.items() if names) or None


def verify_signature(bundle: str | Path, public_key: str | Path) -> dict[str, Any]:
    """Check ``bundle/bundle.sig`` against every file of the bundle and the publisher's public key.

    Nothing of the bundle but the signature is read before this passes; any failure is one
    ``SignatureError`` line naming what differs.
    """
    path = Path(bundle)
    if not path.is_dir():
        raise SignatureError(f"{path}: no such bundle folder")
    facts = key_facts(public_key)
    signature = path / SIGNATURE
    if not signature.is_file():
        raise SignatureError(f"{path}: not signed (no {SIGNATURE}); --public-key accepts only a bundle signed "
                             f"with that key")
    import model_signing
    from cryptography.exceptions import InvalidSignature

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            (model_signing.verifying.Config().use_elliptic_key_verifier(public_key=Path(public_key))
             .set_hashing_config(_hashing()).verify(path, signature))
    except Exception as exc:
        text = str(exc)
        if text.startswith("Key mismatch"):
            hint = _signer_hint(signature)
            why = f"signed with another key ({hint or 'unknown'}), not {facts['fingerprint']}"
        elif text.startswith("Signature mismatch"):
            why = _mismatch(text)
        elif isinstance(exc, InvalidSignature):
            why = f"{SIGNATURE} does not verify with this key (damaged or forged)"
        else:
            why = f"{SIGNATURE} could not be checked ({one_line(exc)})"
        raise SignatureError(f"{path}: signature check failed: {why}") from None
    return {"status": "verified", "signature": SIGNATURE, **facts, "library": library()}
