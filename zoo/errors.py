"""Errors the command line turns into one line and exit status 2."""
from __future__ import annotations


class ZooError(Exception):
    """A problem the user can fix (bad name, bad input, bad file): shown without a traceback."""

    exit_code = 2


class UnknownModelError(ZooError):
    """No installed plugin provides a model of that name."""
