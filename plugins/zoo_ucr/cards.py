"""Card texts that every model of the archive's problems shares, whichever family trained it: what is out of
scope, the factors the archive records, the risks and misuse of a model of one small problem, and the limits
of its training part. Each family adds its own description, intended use, explainability and limits.

Imports: the standard library only (the families' model specs import it, and ``zoo list`` imports those).
"""
from __future__ import annotations

from typing import Any

TRAINED_ON = ("Trained on the archive's small training part (less zoo's validation share) for one problem: it knows "
              "that problem's classes only and has no rejection option.")


def shared_card(series: str, misuse: str) -> dict[str, Any]:
    """The shared fields of a card for a model of ``series`` (what the problem's series are), with what the
    model must not be used for (``misuse``, one or two sentences of the family's table)."""
    return {
        "out_of_scope_use": (
            f"Any decision about people, equipment or money, and any series that is not {series} as the archive "
            "stores it (same sampling and normalisation). " + misuse + " The graph accepts other lengths, but the "
            "model was trained on the problem's own lengths only."),
        "factors": (
            "Results are disaggregated by class. The archive records no other factors (person, device, session, "
            "place), so performance across them cannot be measured."),
        "safety": {
            "risks": ("A confident class for every input, also for series unlike the archive's (see the measured "
                      "calibration and out-of-distribution detection above). The test splits are small: the "
                      "interval on the accuracy is wide, and a few series change the score."),
            "misuse": misuse + " Quoting the test score as evidence that the model works on other data.",
        },
    }
