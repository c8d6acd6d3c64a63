"""Files: atomic writes (a reader sees the old file or the new one, never half of either), checksums, and
the one rule that keeps text free of this machine's paths.

A write that fails for lack of space is a ``StorageError`` naming the file: the user's disk,
not the code that asked for the write, is what needs attention. ``zoo_home`` is where zoo keeps
what it caches (pulled models, decoded data). Imports from zoo: ``zoo.errors`` only.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from zoo.errors import ZooError

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


FREE_SPACE = "free space and run the command again"  # the way out, unless the caller knows a better one


class StorageError(ZooError):
    """The disk is full (or a quota or file-size limit was reached): exit status 2. The message names the
    file, why, and the way out (``next_step``); ``then`` gives the same error another way out."""

    def __init__(self, what: str | Path, reason: str, next_step: str = FREE_SPACE) -> None:
        self.what, self.reason, self.next_step = str(what), reason, next_step
        super().__init__(f"{what} was not written: {reason} (a file being replaced keeps its old contents); "
                         f"{next_step}")

    def __reduce__(self):  # one line across processes too (torchrun workers report through pickles)
        return StorageError, (self.what, self.reason, self.next_step)

    def then(self, next_step: str) -> "StorageError":
        """The same error with the way out the caller knows: ``zoo train`` names the command that resumes."""
        return StorageError(self.what, self.reason, next_step)


def is_disk_full(exc: BaseException) -> bool:
    """A write failed for lack of space: the OS's error, or the StorageError an atomic write made of it."""
    return isinstance(exc, StorageError) or (isinstance(exc, OSError) and exc.errno in _NO_SPACE)


@contextlib.contextmanager
def disk_space(what: str | Path) -> Iterator[None]:
    """Turn a full disk while writing ``what`` into one StorageError line; other errors pass."""
    try:
        yield
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise StorageError(what, os.strerror(exc.errno).lower()) from None


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place."""
    path = Path(path)
    with disk_space(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        usual_permissions(Path(tmp))
        try:
            write(Path(tmp))
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def staging_dir(dest: Path, prefix: str | None = None) -> Path:
    """A fresh, empty folder beside ``dest`` to build its new contents in (one file system, so that
    ``replace_dir`` can rename it into place); a full disk is one StorageError line. ``prefix``: the
    folder's name before its random part (default ``.<dest name>.tmp-``), for a caller that sweeps its own."""
    dest = Path(dest)
    with disk_space(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix or f".{dest.name}.tmp-", dir=dest.parent))
    usual_permissions(tmp)
    return tmp


def replace_dir(tmp: Path, dest: Path) -> None:
    """Put the finished folder ``tmp`` at ``dest`` with one rename; an old ``dest`` is renamed aside first,
    then removed: a reader sees the old folder, the new one or (for an instant) none, never a mix of the
    two. ``tmp`` must sit beside ``dest`` (one file system)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        try:
            os.replace(dest, old / dest.name)
        except BaseException:
            shutil.rmtree(old, ignore_errors=True)
            raise
    try:
        os.replace(tmp, dest)
    except BaseException:  # put the old folder back: a failed replace changes nothing
        if old is not None:
            os.replace(old / dest.name, dest)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def usual_permissions(path: Path) -> None:
    """Give a file or folder from mkstemp/mkdtemp (owner-only) the mode a plain open/mkdir would."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())


def zoo_home() -> Path:
    """Where zoo caches what it fetched or computed: ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else
    ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoo"


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json_object(path: Path, error: type[Exception], what: str) -> dict[str, Any]:
    """A JSON file that must hold an object (a bundle's manifest, say), or ``error`` with one line:
    "{path}: damaged {what} (...)"."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: damaged {what} ({exc})") from None
    if not isinstance(found, dict):
        raise error(f"{path}: damaged {what} (not a JSON object)")
    return found


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (bundles, runs and hubs name files by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# An absolute POSIX path of at least two parts (/home/me/runs/x, /tmp/y/z), not the path of a URL
# (preceded by ':' or '/') nor a part of a word or of base64 text (rows/features, a+/b).
_ABSOLUTE = re.compile(r"(?<![\w.:/+~-])/(?:[\w.@+-]+/)+[\w.@+-]*")


def portable(value: Any) -> Any:
    """``value`` with every absolute path in its strings replaced by the path's last part.

    The one rule that keeps what zoo ships (cards, verification reports, export logs) free of the paths
    of the machine that made it.
    """
    if isinstance(value, str):
        return _ABSOLUTE.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], value)
    if isinstance(value, Mapping):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    return value
