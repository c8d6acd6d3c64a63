"""The errors zoo shows as one `error:` line, their exit statuses, and the texts they share.

Exit status is a property of the class, set here and nowhere else: 2 for input the user can
fix (``ZooError``), 1 when a check said no (``CheckFailed``) or the work itself failed
(``WorkFailed``: a plugin raising, a dead worker). The CLI maps them once (``zoo.cli``).
"""
from __future__ import annotations

import difflib


class ZooError(Exception):
    """A problem the user can fix (bad name, bad input, bad file): shown without a traceback."""

    exit_code = 2


class CheckFailed(ZooError):
    """A check ran and its answer is no (a re-evaluation that differs, a failed verification): exit 1."""

    exit_code = 1


class WorkFailed(ZooError):
    """The work itself failed (a plugin's hook raised, a worker died, a model did not publish): exit 1."""

    exit_code = 1


class ZooWarning(UserWarning):
    """Something the user should know that does not stop the work: the command line says it once, in one
    ``warning:`` line."""


class ContractWarning(ZooWarning, FutureWarning):
    """A plugin relies on something the plugin contract has deprecated: it still works, and the command
    line says once, in one ``warning:`` line, what to change before the contract's next major version
    stops accepting it (as pytest deprecates hooks)."""


def warn(message: str, category: type[ZooWarning] = ZooWarning) -> None:
    """One warning line for the user (``ZooWarning``); the command line prints each once."""
    import warnings

    warnings.warn(message, category, stacklevel=3)


def deprecated(message: str) -> None:
    """Warn that a plugin relies on a deprecated part of the contract (``ContractWarning``)."""
    warn(message, ContractWarning)


class UnknownModelError(ZooError):
    """No installed plugin provides a model of that name."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: the run keeps its last checkpoint; ``resume`` is the command that
    continues it (exit status 130)."""

    def __init__(self, resume: str) -> None:
        super().__init__(resume)
        self.resume = resume


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def closest(name: str, known: list[str], cutoff: float = 0.6) -> str | None:
    """The known name most like ``name``, comparing whole names and same-length prefixes
    (so 'cnnn' suggests 'cnn-digits')."""
    def score(candidate: str) -> float:
        whole = difflib.SequenceMatcher(None, name, candidate).ratio()
        prefix = difflib.SequenceMatcher(None, name, candidate[: len(name)]).ratio()
        return max(whole, prefix)

    best = max(known, key=score, default=None)
    return best if best is not None and score(best) >= cutoff else None


def did_you_mean(kind: str, name: str, known: list[str]) -> str:
    """``unknown KIND 'NAME' (did you mean 'X'?)``: the text of every unknown-name error."""
    close = closest(name, known)
    hint = f" (did you mean {close!r}?)" if close else f"; known: {', '.join(sorted(known))}" if known else ""
    return f"unknown {kind} {name!r}{hint}"
