"""Where published models live: zoos of bundles with an index, found by model name, without torch.

A *zoo* is a folder of bundles (``zoo.bundle``) with an ``index.json`` beside them that lists, per
model, its bundle folder and the SHA-256 and size of every file in it (``zoo.hub.index``). Three
folders are zoos:

* ``exports/`` after ``zoo publish`` (the built-in zoo when it sits in the source tree);
* a *hub*: what ``zoo hub DIR`` writes, plain files that any static web server can serve;
* the local *cache*, ``$ZOO_HOME`` (default ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``), where
  ``zoo pull`` puts each model as ``<name>/`` and records it in the cache's own ``index.json``.

A name is looked up in the cache first, then in the built-in zoo (``find``). This module reads
index files only (``json``), so ``zoo list`` stays fast and torch-free; opening a bundle (numpy,
onnx) and loading its weights (torch) happen in ``zoo.hub.index`` and ``zoo.hub.pretrained``.

Layers: the package sits above the cards (it reads published cards through ``zoo.cards.schema``), the
bundle and ``zoo.models`` (``pretrained`` builds the network there); this module imports only
``zoo.errors``, ``zoo.fsutil`` and ``zoo.specs``, and ``index``, ``pull``, ``static`` and ``pretrained``
import it, never the other way.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ZooError, closest, one_line
from zoo.specs import NAME_PATTERN

INDEX = "index.json"
SCHEMA = "zoo-hub-index/1"
CACHE, BUILTIN = "cache", "builtin"
LOCK = ".lock"  # the cache's lock file (zoo.hub.pull)
TMP_PREFIX = ".pull-"  # the cache's temporary bundle folders (zoo.hub.pull)
# What a model or its bundle folder may not be named, beside the cache's own files: names starting with '.'
# (LOCK, TMP_PREFIX and the temporary names of zoo.fsutil all do) and these.
RESERVED = frozenset({INDEX})
PART_MAX = 255  # bytes of one file or folder name on common file systems
NAME_MAX = 200  # bytes of a model or bundle folder name: room for the temporary names built from it


class HubError(ZooError):
    """An index, hub or cache is damaged, tampered with, or lacks what was asked for (exit 2)."""


class NotPublished(HubError):
    """No zoo on this machine holds the model (or its weights): ``zoo pull`` fetches them."""


def zoo_home() -> Path:
    """The cache: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoo"


def builtin_root() -> Path:
    """The zoo shipped in the source tree: ``exports/`` beside the ``zoo`` package."""
    import zoo

    return Path(zoo.__file__).resolve().parents[1] / "exports"


def zoos() -> list[tuple[str, Path]]:
    """The zoos a name is looked up in, in order: the cache, then the built-in zoo."""
    return [(CACHE, zoo_home()), (BUILTIN, builtin_root())]


def reserved(name: str) -> str | None:
    """Why ``name`` (matching NAME_PATTERN) cannot name a model or its folder in a zoo, or None: a name the
    cache uses itself, or one too long for the temporary names made from it."""
    if name.startswith(".") or name in RESERVED:
        return f"is a name the zoo uses itself ({', '.join(sorted(RESERVED))}, or starting with '.')"
    if len(name.encode()) > NAME_MAX:
        return f"is longer than {NAME_MAX} bytes"
    return None


def parse_index(text: bytes | str, where: str) -> dict[str, Any]:
    """An index's JSON with the right schema and a list of named models (their other fields:
    ``zoo.hub.index.check_index``)."""
    try:
        index = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HubError(f"{where}: damaged index ({one_line(exc)})") from None
    if not isinstance(index, dict) or index.get("schema") != SCHEMA:
        found = index.get("schema") if isinstance(index, dict) else None
        raise HubError(f"{where}: not a zoo index (schema {found!r}, this zoo reads {SCHEMA})")
    if not isinstance(index.get("models"), list) or not all(isinstance(m, dict) for m in index["models"]):
        raise HubError(f"{where}: damaged index (needs a list of 'models')")
    if not all(isinstance(m.get("name"), str) for m in index["models"]):
        raise HubError(f"{where}: damaged index (a model without a name)")
    return index


def read_index(root: Path) -> dict[str, Any] | None:
    """The index of the zoo at ``root``, or None when it has none; one that cannot be read or parsed is
    one ``HubError`` line naming it."""
    path = Path(root) / INDEX
    try:
        text = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise HubError(f"{path}: cannot be read ({one_line(exc)})") from None
    return parse_index(text, str(path))


def entries(root: Path) -> dict[str, dict[str, Any]]:
    """The models of the zoo at ``root`` by name (none when it has no index)."""
    index = read_index(root)
    return {m.get("name"): m for m in index["models"]} if index else {}


@dataclass(frozen=True)
class Published:
    """One model as a zoo on this machine publishes it: which zoo, where, and its index entry."""

    name: str
    where: str  # CACHE or BUILTIN
    root: Path
    entry: dict[str, Any]

    @property
    def bundle(self) -> Path:
        return self.root / str(self.entry.get("bundle", self.name))

    @property
    def has_weights(self) -> bool:
        return bool(self.entry.get("weights"))


def published(warn: Callable[[str], None] | None = None) -> dict[str, Published]:
    """Every model some zoo on this machine publishes, from the zoo that ``find`` would use. A zoo whose
    index is damaged is a ``HubError``; with ``warn``, a line passed to it instead, and the other zoos count."""
    found: dict[str, Published] = {}
    for where, root in zoos():
        try:
            held = entries(root)
        except HubError as exc:
            if warn is None:
                raise
            warn(f"{exc}; the models of the {where} zoo are left out")
            continue
        for name, entry in held.items():
            found.setdefault(name, Published(name, where, root, entry))
    return found


def weights_status(warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """``cache`` or ``builtin`` for every model whose published weights are on this machine (for zoo list);
    ``warn``: see ``published``."""
    return {name: p.where for name, p in published(warn).items() if p.has_weights}


def find(name: str, weights: bool = False) -> Published:
    """Where ``name`` is published (the cache first, then the built-in zoo); with ``weights``, where its
    PyTorch weights are. None of either is one ``NotPublished`` line naming ``zoo pull``."""
    known = published()
    hit = known.get(name)
    if hit is not None and (hit.has_weights or not weights):
        return hit
    if hit is not None:
        raise NotPublished(f"{name!r} is published without PyTorch weights ({hit.where} zoo, {hit.bundle}); "
                           f"pull a bundle that has them: zoo pull SOURCE {name}")
    close = closest(name, sorted(known))
    hint = f" (did you mean {close!r}?)" if close else ""
    raise NotPublished(f"no published model {name!r}{hint} in the cache {zoo_home()} or the built-in zoo "
                       f"{builtin_root()}; fetch it with: zoo pull SOURCE {name}")
