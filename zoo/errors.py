"""Errors the command line turns into one line and exit status 2, and the suggestions they make."""
from __future__ import annotations

import difflib


class ZooError(Exception):
    """A problem the user can fix (bad name, bad input, bad file): shown without a traceback."""

    exit_code = 2


class CheckFailed(ZooError):
    """A check ran and its answer is no (a re-evaluation that differs, a failed verification): exit 1."""

    exit_code = 1


class UnknownModelError(ZooError):
    """No installed plugin provides a model of that name."""


def closest(name: str, known: list[str], cutoff: float = 0.6) -> str | None:
    """The known name most like ``name``, comparing whole names and same-length prefixes
    (so 'cnnn' suggests 'cnn-digits')."""
    def score(candidate: str) -> float:
        whole = difflib.SequenceMatcher(None, name, candidate).ratio()
        prefix = difflib.SequenceMatcher(None, name, candidate[: len(name)]).ratio()
        return max(whole, prefix)

    best = max(known, key=score, default=None)
    return best if best is not None and score(best) >= cutoff else None
