"""`zoo pull`: copy published bundles from a hub (a folder or an http(s):// URL) into the cache.

Nothing from a hub is trusted before it is checked, and nothing half-checked is ever in the cache:

1. the index is read and every entry checked (``check_index``): a name, bundle folder or file path
   that leaves its bundle (``../``, absolute, a backslash) is refused before anything is written;
2. a model whose cached copy is the served one, file for file, and still checks, is ``cached``: no
   bundle file is fetched (``force`` fetches it all the same);
3. otherwise its manifest is fetched into memory and checked against the index (SHA-256, paths,
   checksums, weights), for every model to fetch, before the cache is written at all;
4. every file goes into a temporary folder inside the cache, its size and SHA-256 checked against the
   index while it streams;
5. the folder is opened as a bundle (``open_bundle``: every checksum again), and its signature
   checked with ``public_key`` when one is given;
6. the folder is renamed into place (``replace_dir``) and the cache's ``index.json`` rewritten atomically.

Sizes are bounded before anything is fetched: the index (``INDEX_LIMIT``), each manifest
(``MANIFEST_LIMIT``), each bundle (its ``bytes``, the sum of its files' sizes) and, with ``max_bytes``,
all that one pull downloads. A failure at any step removes the temporary folder (Ctrl-C too); one pull
into a cache at a time (a lock on ``.lock``). A bad or tampered hub, or a cache that cannot be written,
is a ``HubError`` (exit 2); a network failure a ``PullFailed`` (exit 1).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator, Mapping, Sequence
from urllib.parse import quote

from zoo.errors import WorkFailed, ZooError, one_line
from zoo.fsutil import atomic_write_json, disk_space, is_disk_full, replace_dir, staging_dir
from zoo.hub import INDEX, LOCK, SCHEMA, TMP_PREFIX, HubError, entries, parse_index, read_index, zoo_home
from zoo.hub.index import check_against_manifest, check_index, open_published

INDEX_LIMIT = 16 << 20  # bytes: an index of thousands of models is far below this
MANIFEST_LIMIT = 4 << 20  # bytes: a manifest lists a bundle's files and graphs, a few KB
TIMEOUT = 60  # seconds without a byte from the server


class PullFailed(WorkFailed):
    """The hub could not be reached, or a download broke off (exit 1); the cache is as it was."""


class Source:
    """A hub: a local folder or an http(s):// URL, read file by file by relative path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.url = text.rstrip("/") + "/" if text.startswith(("http://", "https://")) else None
        self.name = text if self.url else str(Path(text).resolve())  # as the cache's index records it
        if self.url is None and not Path(text).is_dir():
            raise HubError(f"{text}: no such folder; give a hub folder (zoo hub DIR writes one) or an http(s):// URL")
        if self.url is None and not (Path(text) / INDEX).is_file():
            raise HubError(f"{text}: not a hub (no {INDEX}); give a hub folder or an http(s):// URL")

    def where(self, relative: str) -> str:
        return self.url + quote(relative) if self.url else str(Path(self.text) / relative)

    @contextlib.contextmanager
    def open(self, relative: str) -> Iterator[IO[bytes]]:
        """The file at ``relative`` (already checked to stay inside its bundle) as a binary stream."""
        if self.url is None:
            from zoo.bundle import inside

            inside(Path(self.text), relative, "file")  # no symlink on the hub's side leads out of it
            try:  # non-blocking: a FIFO in the hub's folder would otherwise hang the pull on open
                fd = os.open(Path(self.text) / relative, os.O_RDONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                raise HubError(f"{self.where(relative)}: listed in the hub's index but not there") from None
            except OSError as exc:
                raise HubError(f"{self.where(relative)}: cannot be read ({one_line(exc)})") from None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise HubError(f"{self.where(relative)}: not a plain file (a hub serves plain files only)")
            with os.fdopen(fd, "rb") as handle:
                yield handle
            return
        try:
            response = urllib.request.urlopen(self.where(relative), timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            raise HubError(f"{self.where(relative)}: the hub answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PullFailed(f"{self.where(relative)}: cannot reach the hub ({one_line(exc)})") from None
        except ValueError as exc:
            raise HubError(f"{self.text}: not a hub URL ({one_line(exc)})") from None
        with response:
            yield response

    def read(self, relative: str, limit: int) -> bytes:
        """The whole file, at most ``limit`` bytes (more is refused)."""
        with self.open(relative) as stream:
            data = _guarded(lambda: stream.read(limit + 1), self.where(relative))
        if len(data) > limit:
            raise HubError(f"{self.where(relative)}: larger than the {limit} bytes allowed")
        return data


def _guarded(read, where: str):
    """A read from the hub; a connection that breaks off is one ``PullFailed`` line."""
    try:
        return read()
    except (OSError, ValueError) as exc:  # IncompleteRead, reset, timeout
        raise PullFailed(f"{where}: the download broke off ({one_line(exc)})") from None


def check_digest(data_digest: str, facts: Mapping[str, Any], where: str) -> None:
    """The SHA-256 of what the hub served is the one its index lists for it."""
    if data_digest != facts["sha256"]:
        raise HubError(f"{where}: checksum mismatch with the hub's index (tampered with or damaged)")


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An error writing ``path`` into the cache is one ``HubError`` line naming it; a full disk is left to
    the ``disk_space`` around (it names what was not written)."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise
        raise HubError(f"{path}: cannot be written in the cache ({one_line(exc)})") from None


def fetch(source: Source, relative: str, dest: Path, facts: Mapping[str, Any]) -> None:
    """Stream one file into ``dest``, refusing it as soon as it exceeds its size, and at the end unless its
    size and SHA-256 are the index's."""
    digest, size, where = hashlib.sha256(), 0, source.where(relative)
    with writing(dest):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            out = open(dest, "wb")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise HubError(f"{where}: the index lists it where another of the bundle's files is") from None
    with source.open(relative) as stream, out:
        while True:
            block = _guarded(lambda: stream.read(1 << 20), where)
            if not block:
                break
            size += len(block)
            if size > facts["bytes"]:
                raise HubError(f"{where}: larger than the {facts['bytes']} bytes the index lists (tampered with)")
            digest.update(block)
            with writing(dest):
                out.write(block)
    if size != facts["bytes"]:
        raise PullFailed(f"{where}: {size} of {facts['bytes']} bytes arrived (the download broke off)")
    check_digest(digest.hexdigest(), facts, where)


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """Hold the cache for this pull (two pulls into one cache would race on its index), and sweep the
    temporary folders of pulls that were killed before they could remove their own."""
    try:
        with disk_space(cache):
            cache.mkdir(parents=True, exist_ok=True)
        fd = os.open(cache / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HubError(f"{cache}: the cache cannot be used ({one_line(exc)}); set ZOO_HOME to a folder "
                       f"you can write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in cache.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def _cached(cache: Path, entry: Mapping[str, Any], public_key) -> bool:
    """The cache holds exactly the served bundle and it still checks (every file, its signature if asked)."""
    from zoo.bundle import MANIFEST, check_paths
    from zoo.fsutil import sha256_file

    held = entries(cache).get(entry["name"])
    if held is None or held.get("files") != entry["files"]:
        return False
    try:
        opened = open_published(cache, held, f"{cache / INDEX}")  # the manifest and every file it lists, hashed
        folder = cache / held["bundle"]
        hashed = check_paths(folder, opened.manifest)  # what open_bundle checked, by normalised path
        rest = {n: f for n, f in held["files"].items()  # the files added after export: the card, bundle.sig
                if n != MANIFEST and hashed.get(PurePosixPath(n).as_posix()) != f["sha256"]}
        if any(sha256_file(folder / n) != f["sha256"] for n, f in rest.items()):
            return False
        _check_signature(folder, public_key)
    except (ZooError, OSError):
        return False
    return True


def _check_signature(folder: Path, public_key) -> None:
    if public_key is not None:
        from zoo.bundle.signing import verify_signature

        verify_signature(folder, public_key)


def fetch_manifest(source: Source, entry: Mapping[str, Any], cache: Path) -> bytes:
    """The served manifest, in memory, checked against the index: its SHA-256, every path it names
    (inside the bundle: ``check_paths``), its checksums and its weights. Nothing is written."""
    from zoo.bundle import MANIFEST, check_paths

    relative, size = f"{entry['bundle']}/{MANIFEST}", entry["files"][MANIFEST]["bytes"]
    if size > MANIFEST_LIMIT:
        raise HubError(f"{source.where(relative)}: {size} bytes in the hub's index, more than the {MANIFEST_LIMIT} "
                       f"a manifest may have (refused before it is fetched)")
    raw = source.read(relative, size)
    check_digest(hashlib.sha256(raw).hexdigest(), entry["files"][MANIFEST], source.where(relative))
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HubError(f"{source.where(relative)}: damaged manifest ({one_line(exc)})") from None
    if not isinstance(manifest, dict):
        raise HubError(f"{source.where(relative)}: damaged manifest (not a JSON object)")
    try:
        check_paths(cache / entry["name"], manifest)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): no file system can name it
        raise HubError(f"{source.where(relative)}: damaged manifest (a path that is not UTF-8)") from None
    check_against_manifest(entry, manifest, source.text)
    return raw


def _download(source: Source, entry: Mapping[str, Any], raw: bytes, cache: Path, public_key) -> Path:
    """Fetch one bundle (its checked manifest ``raw`` in hand) into a temporary folder in the cache and
    check it whole; returns the folder."""
    from zoo.bundle import MANIFEST, open_bundle

    prefix = f"{TMP_PREFIX}{entry['name']}-"  # what ``locked`` sweeps when a pull was killed
    with writing(cache / f"{prefix}*"):
        tmp = staging_dir(cache / entry["name"], prefix=prefix)
    try:
        with disk_space(f"the bundle {cache / entry['name']}"):
            with writing(tmp / MANIFEST):
                (tmp / MANIFEST).write_bytes(raw)
            for relative, facts in entry["files"].items():
                if relative != MANIFEST:
                    fetch(source, f"{entry['bundle']}/{relative}", tmp / relative, facts)
        try:
            open_bundle(tmp)
            _check_signature(tmp, public_key)
        except ZooError as exc:  # named as the hub's bundle, not as the cache's temporary folder
            raise type(exc)(str(exc).replace(str(tmp), source.where(entry["bundle"]))) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _record(cache: Path, entry: Mapping[str, Any], source: Source) -> None:
    """Put ``entry`` (its bundle now at ``cache/<name>``) into the cache's index, atomically."""
    from zoo import __version__

    index = read_index(cache) or {"schema": SCHEMA, "zoo_version": __version__, "models": []}
    kept = [m for m in index["models"] if m.get("name") != entry["name"]]
    mine = {**entry, "bundle": entry["name"], "source": source.name}
    index["models"] = sorted([*kept, mine], key=lambda m: str(m.get("name")))
    atomic_write_json(cache / INDEX, index)


def pull(source: str, names: Sequence[str] = (), public_key: str | Path | None = None, force: bool = False,
         cache: str | Path | None = None, max_bytes: int | None = None) -> list[dict[str, Any]]:
    """Pull ``names`` (default: every model the hub lists) into the cache; one row per model:
    name, status (``pulled`` or ``cached``), files, bytes and where it now is. ``max_bytes``: the most
    this pull may download, checked against the index before anything is (a cached copy found damaged
    and fetched again counts too)."""
    from zoo.errors import did_you_mean

    if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 0):
        raise HubError(f"max_bytes {max_bytes!r} is not a number of bytes (a whole number, 0 or more)")
    cache = Path(cache) if cache is not None else zoo_home()
    hub = Source(source)
    if public_key is not None:
        from zoo.bundle.signing import key_facts

        key_facts(public_key)  # a bad key is refused before anything is fetched
    index = parse_index(hub.read(INDEX, INDEX_LIMIT), hub.where(INDEX))
    served = check_index(index, cache, hub.where(INDEX))
    for name in names:
        if name not in served:
            raise HubError(f"{hub.where(INDEX)}: {did_you_mean('model', name, sorted(served))}")
    chosen = list(dict.fromkeys(names)) or sorted(served)
    try:
        held = entries(cache)
    except HubError as exc:  # never removed for the user: it is the only record of what the cache holds
        raise HubError(f"{exc}; move it away and pull again (the models it listed are then pulled afresh)") from None
    stale = [name for name in chosen if force or (held.get(name) or {}).get("files") != served[name]["files"]]
    total = sum(served[name]["bytes"] for name in stale)
    if max_bytes is not None and total > max_bytes:
        raise HubError(f"{hub.where(INDEX)}: the bundles to pull ({', '.join(stale)}) total {total} bytes, more "
                       f"than the {max_bytes} allowed (max_bytes); pull fewer models or allow more")
    manifests = {name: fetch_manifest(hub, served[name], cache) for name in stale}
    rows, fetched = [], 0
    with locked(cache):  # the first write: the cache folder and its lock
        for name in chosen:
            entry = served[name]
            status = "cached"
            if force or not _cached(cache, entry, public_key):
                fetched += entry["bytes"]
                if max_bytes is not None and fetched > max_bytes:  # a cached copy found damaged, fetched again
                    raise HubError(f"{cache / name}: damaged in the cache; fetching it again would make this pull "
                                   f"{fetched} bytes, more than the {max_bytes} allowed (max_bytes)")
                raw = manifests.get(name) or fetch_manifest(hub, entry, cache)
                tmp = _download(hub, entry, raw, cache, public_key)
                try:
                    with writing(cache / name):
                        replace_dir(tmp, cache / name)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                with writing(cache / INDEX):
                    _record(cache, entry, hub)
                status = "pulled"
            rows.append({"name": name, "status": status, "files": len(entry["files"]), "bytes": entry["bytes"],
                         "bundle": str(cache / name)})
    return rows
