"""A zoo's ``index.json``: written from the bundles and their cards, and checked before it is trusted.

Why an index beside the manifests: a hub is read over HTTP, where nothing can be listed, and a
name must lead to one bundle whose every file is pinned before any is fetched. Every value is
read from a bundle's checked manifest, its files and its card (``card/card.json``, written by
``zoo publish``); nothing is typed by hand::

    {"schema": "zoo-hub-index/1", "zoo_version": "0.1.0", "models": [{
        "name", "family", "task", "dataset",
        "bundle": "cnn-digits",                  # its folder beside index.json
        "format": "zoo-onnx-bundle/2", "manifest_sha256": "...",
        "files": {"manifest.json": {"sha256": "...", "bytes": 3574}, "model.onnx": {...}, ...},
        "bytes": 1234567,                        # the whole bundle, every file above
        "weights": {"file": "weights.safetensors", "sha256": "..."},      # or null: ONNX only
        "metric": {"key": "accuracy", "value": 0.99, "interval": [lo, hi], "level": 0.95, "split": "test"},
        "parameters": 99370, "parity": "verified",
        "card": {"md": "card/card.md", "json": "card/card.json", ...},    # inside the bundle
        "signed": false}]}

``files`` lists every file of the bundle: those in the manifest with the manifest's SHA-256, the
ones written after export (the card, ``bundle.sig``) with their own, so that a pulled copy can be
checked whole and its signature still covers it. A bundle that does not open cleanly is left out.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from zoo import __version__
from zoo.errors import ZooError, one_line
from zoo.fsutil import atomic_write_json, read_json
from zoo.hub import INDEX, PART_MAX, SCHEMA, HubError, find, reserved
from zoo.specs import NAME_PATTERN

CARD_FORMATS = ("md", "json", "html")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def bundle_files(folder: Path) -> list[str]:
    """Every file of a bundle folder by POSIX relative path; a symlink is refused (a hub ships plain files)."""
    from zoo.bundle import inside

    names = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise HubError(f"{path}: a symlink; a published bundle holds plain files only")
        if path.is_file():
            names.append(inside(folder, path.relative_to(folder).as_posix(), "file"))
    return names


def _card(folder: Path, manifest: Mapping[str, Any], cards_dir: Path | None) -> tuple[dict | None, str | None]:
    """The card describing this export: the bundle's own, else ``cards_dir/<model>.json``; (card, why not).

    A card counts only if it is of this model and lists every graph file (variants too) with the
    manifest's SHA-256: the card of another export of the run, or of another run, does not."""
    from zoo.cards.schema import SCHEMA_ID, headline
    from zoo.runs import CARD_DIR

    candidates = [folder / CARD_DIR / "card.json"]
    if cards_dir is not None:
        candidates.append(Path(cards_dir) / f"{manifest['model']}.json")
    if not any(path.is_file() for path in candidates):
        others = [f"card.{fmt}" for fmt in CARD_FORMATS if (folder / CARD_DIR / f"card.{fmt}").is_file()]
        where = f"its card is in {' and '.join(others)} only" if others else "it has no card"
        return None, (f"{where}, and the index reads a card's facts (metric, parameters, parity) from its JSON: "
                      f"write it with `zoo card {folder.name} --format json` (and sign the bundle again if it is signed)")
    for path in candidates:
        if not path.is_file():
            continue
        try:
            card = read_json(path)
            listed = {f["file"]: f["sha256"] for f in card["bundle"]["files"]}
            ours = card["schema"] == SCHEMA_ID and card["model_details"]["name"] == manifest["model"]
            headline(card), card["parity"]["status"]
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            return None, f"{path}: not a zoo card ({one_line(exc)})"
        graphs = [g["file"] for g in manifest["graphs"]] + [v["file"] for g in manifest["graphs"]
                                                              for v in (g.get("variants") or {}).values()]
        same = all(listed.get(name) == manifest["files"][name] for name in graphs)
        if not (ours and same):
            return None, f"{path}: not the card of this export (another model, or checksums that differ)"
        return card, None
    return None, None


def describe(folder: Path, cards_dir: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The index entry of the bundle in ``folder`` (opened and checked first), and a note when its card
    could not be used."""
    from zoo.bundle import MANIFEST, open_bundle
    from zoo.bundle.signing import SIGNATURE, signature_mismatch
    from zoo.cards.schema import headline
    from zoo.fsutil import sha256_file

    if not NAME_PATTERN.match(folder.name):
        raise HubError(f"{folder}: a bundle folder in a zoo is named like a model ({NAME_PATTERN.pattern})")
    manifest = open_bundle(folder).manifest
    for what, value in (("bundle folder", folder.name), ("model name", manifest["model"])):
        problem = reserved(str(value))
        if problem:
            raise HubError(f"{folder}: {what} {value!r} {problem}")
    names = bundle_files(folder)
    if SIGNATURE in names:
        mismatch = signature_mismatch(folder)
        if mismatch:
            raise HubError(f"{folder}: its signature no longer covers its files ({mismatch}); sign it again "
                           f"(zoo sign) or remove {SIGNATURE}")
    files = {name: {"sha256": manifest["files"].get(name) or sha256_file(folder / name),
                    "bytes": (folder / name).stat().st_size} for name in names}
    card, note = _card(folder, manifest, cards_dir)
    pytorch = manifest.get("pytorch")
    try:
        config = read_json(folder / pytorch["config"]) if pytorch else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubError(f"{folder / pytorch['config']}: damaged ({one_line(exc)})") from None
    in_bundle = {fmt: f"card/card.{fmt}" for fmt in CARD_FORMATS if f"card/card.{fmt}" in files}
    entry = {
        "name": manifest["model"], "family": manifest.get("family"), "task": manifest.get("task"),
        "dataset": (config.get("data") or {}).get("name") or (card or {}).get("model_details", {}).get("dataset"),
        "bundle": folder.name, "format": manifest["format"], "manifest_sha256": files[MANIFEST]["sha256"],
        "files": files, "bytes": sum(f["bytes"] for f in files.values()),
        "weights": {"file": pytorch["weights"], "sha256": files[pytorch["weights"]]["sha256"]} if pytorch else None,
        "metric": headline(card) if card else None,
        "parameters": card["model_details"].get("parameters") if card else None,
        "parity": card["parity"]["status"] if card else None,
        "card": in_bundle if card else {},
        "signed": SIGNATURE in files,  # and still covering every file: checked above
    }
    return entry, note


def build_index(root: Path, cards_dir: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The index of every bundle folder under ``root`` that opens cleanly; and a line per folder left out
    or card not used."""
    from zoo.bundle import MANIFEST

    models, notes = [], []
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    for folder in (p for p in folders if not p.name.startswith(".")):
        if not (folder / MANIFEST).is_file():
            continue
        try:
            entry, note = describe(folder, cards_dir)
        except ZooError as exc:
            notes.append(f"{folder.name}: left out of the index: {exc}")
            continue
        if note:
            notes.append(f"{folder.name}: no card facts in the index: {note}")
        models.append(entry)
    seen: dict[str, str] = {}
    for entry in models:
        if entry["name"] in seen:
            raise HubError(f"{root}: bundles {seen[entry['name']]} and {entry['bundle']} are both {entry['name']!r}; "
                           f"a zoo holds one bundle per model")
        seen[entry["name"]] = entry["bundle"]
    return {"schema": SCHEMA, "zoo_version": __version__, "models": models}, notes


def write_index(exports_dir: str | Path, cards_dir: str | Path | None = None) -> tuple[Path, list[str]]:
    """Write ``exports_dir/index.json`` atomically (see the module); returns its path and the notes of
    ``build_index``."""
    index, notes = build_index(Path(exports_dir), Path(cards_dir) if cards_dir is not None else None)
    path = Path(exports_dir) / INDEX
    atomic_write_json(path, index)
    return path, notes


def _digest(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise HubError(f"{where}: {value!r} is not a SHA-256")
    return value


def _size(value: Any) -> bool:
    return type(value) is int and value >= 0


def check_entry(entry: Mapping[str, Any], root: Path, where: str) -> None:
    """One index entry is well formed and every path it names stays inside its bundle (no file is read).

    ``root``: the folder the entry's bundle would sit in (the hub's, or the cache), for the path checks.
    """
    from zoo.bundle import MANIFEST, BundleError, inside

    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise HubError(f"{where}: model name {name!r} must match {NAME_PATTERN.pattern}")
    folder = entry.get("bundle")
    if not isinstance(folder, str) or not NAME_PATTERN.match(folder):
        raise HubError(f"{where}: {name}: bundle folder {folder!r} is outside the zoo (a plain folder name "
                       f"beside {INDEX})")
    for what, value in (("model name", name), ("bundle folder", folder)):
        problem = reserved(value)
        if problem:
            raise HubError(f"{where}: {what} {value!r} {problem}")
    files = entry.get("files")
    if not isinstance(files, dict) or MANIFEST not in files:
        raise HubError(f"{where}: {name}: damaged entry (needs the 'files' of the bundle, {MANIFEST} among them)")
    for path, facts in files.items():
        try:
            if isinstance(path, str) and any(len(part.encode()) > PART_MAX for part in path.split("/")):
                raise HubError(f"{where}: {name}: file {path[:60]!r}... has a name longer than {PART_MAX} bytes")
            inside(root / folder, path, "file")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): no file system can name it
            raise HubError(f"{where}: {name}: file {path!r} is not a file name (not UTF-8)") from None
        except BundleError as exc:
            raise HubError(f"{where}: {name}: {str(exc).removeprefix(f'{root / folder}: ')}") from None
        if not isinstance(facts, dict) or not _size(facts.get("bytes")):
            raise HubError(f"{where}: {name}: file {path!r} has no size")
        _digest(facts.get("sha256"), f"{where}: {name}: file {path!r}")
    if _digest(entry.get("manifest_sha256"), f"{where}: {name}: manifest") != files[MANIFEST]["sha256"]:
        raise HubError(f"{where}: {name}: manifest_sha256 differs from the one its files list")
    weights = entry.get("weights")
    if weights is not None and (not isinstance(weights, dict) or not isinstance(weights.get("file"), str)
                                or weights["file"] not in files
                                or weights.get("sha256") != files[weights["file"]]["sha256"]):
        raise HubError(f"{where}: {name}: its weights are not one of its files with the same SHA-256")
    card = entry.get("card") or {}
    if not isinstance(card, dict) or not _size(entry.get("bytes")):
        raise HubError(f"{where}: {name}: damaged entry (its 'card' or 'bytes')")
    total = sum(facts["bytes"] for facts in files.values())
    if entry["bytes"] != total:
        raise HubError(f"{where}: {name}: its 'bytes' ({entry['bytes']}) is not the sum of its files' sizes ({total})")
    for fmt, path in card.items():
        if not isinstance(path, str) or path not in files:
            raise HubError(f"{where}: {name}: card {path!r} is not one of its files")


def check_index(index: Mapping[str, Any], root: Path, where: str) -> dict[str, dict[str, Any]]:
    """Every entry of a parsed index (``zoo.hub.parse_index``) checked; the entries by name, each name and
    bundle folder once."""
    by_name: dict[str, dict[str, Any]] = {}
    folders: set[str] = set()
    for entry in index["models"]:
        check_entry(entry, root, where)
        if entry["name"] in by_name or entry["bundle"] in folders:
            raise HubError(f"{where}: {entry['name']} or its folder {entry['bundle']!r} is listed twice")
        by_name[entry["name"]] = entry
        folders.add(entry["bundle"])
    return by_name


def check_against_manifest(entry: Mapping[str, Any], manifest: Mapping[str, Any], where: str) -> None:
    """The manifest is the bundle the index pins: its model, every checksum and its weights are the entry's."""
    if manifest.get("model") != entry["name"]:
        raise HubError(f"{where}: {entry['name']}: its manifest is of model {manifest.get('model')!r}")
    for name, digest in (manifest.get("files") or {}).items():
        if name not in entry["files"] or entry["files"][name]["sha256"] != digest:
            raise HubError(f"{where}: {entry['name']}: {name} in the manifest is not the file the index lists")
    pytorch, weights = manifest.get("pytorch"), entry.get("weights")
    if (pytorch or {}).get("weights") != (weights or {}).get("file"):
        raise HubError(f"{where}: {entry['name']}: the index and the manifest name different weights")


def open_published(root: Path, entry: Mapping[str, Any], where: str, key: Any = None,
                   passphrase: str | bytes | None = None):
    """The bundle an index entry pins, opened: the entry's paths, the manifest's SHA-256 against the entry,
    then every checksum of the manifest (``open_bundle``, decrypting with ``key`` where it is encrypted) and
    the manifest against the entry."""
    from zoo.bundle import MANIFEST, open_bundle
    from zoo.fsutil import sha256_file

    check_entry(entry, root, where)
    folder = root / entry["bundle"]
    if (folder / MANIFEST).is_file() and sha256_file(folder / MANIFEST) != entry["manifest_sha256"]:
        raise HubError(f"{folder / MANIFEST}: not the manifest {where} pins (changed since it was indexed or pulled)")
    opened = open_bundle(folder, key, passphrase)
    check_against_manifest(entry, opened.manifest, where)
    return opened


def bundle_or_name(argument: str | Path, public_key: str | Path | None = None, key: Any = None,
                   passphrase: str | bytes | None = None):
    """A bundle, opened (a ``zoo.bundle.Bundle``): the folder given, or, when no such path exists and it names
    a published model, that model's bundle in the cache or the built-in zoo, its index entry checked too. The
    signature (with ``public_key``) is checked first, then every checksum; ``key`` decrypts an encrypted
    bundle in memory. Torch-free: ``zoo predict`` and ``zoo serve`` open bundles with this."""
    from zoo.bundle import open_bundle
    from zoo.bundle.signing import verify_signature

    path = Path(argument)
    if path.exists() or not NAME_PATTERN.match(str(argument)):
        if public_key is not None:
            verify_signature(path, public_key)
        return open_bundle(path, key, passphrase)
    hit = find(str(argument))
    if public_key is not None:
        verify_signature(hit.bundle, public_key)
    return open_published(hit.root, hit.entry, str(hit.root / INDEX), key, passphrase)


def load_bundle(argument: str | Path, *, graph: str | None = None, variant: str | None = None,
                public_key: str | Path | None = None, key: Any = None, passphrase: str | bytes | None = None,
                threads: int | None = None):
    """The deployer's API (``zoo.load_bundle``): a bundle folder or a published model's name, checked and
    ready to answer (``zoo.bundle.runtime.LoadedModel``: ``predict``, ``generate``, ``run``). Torch-free."""
    from zoo.bundle.runtime import load

    return load(bundle_or_name(argument, public_key, key, passphrase), graph=graph, variant=variant,
                threads=threads)
