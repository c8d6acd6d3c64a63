"""The card's comparison with results published for a dataset's own split (``DatasetSpec.published``): the
published rows as their data file gives them, zoo's own 1-NN ED computed afresh on the same split (compared with
the published one digit by digit), the model's accuracy with its interval, and the goals met or missed.

Numbers typed from papers live only in the dataset plugin's data file; this module computes, it never types one.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from zoo import __version__
from zoo.metrics import nearest_neighbour_accuracy
from zoo.specs import LEARNED, NEAREST_NEIGHBOUR, DatasetSpec

# The goals a model of a dataset with published results is held to (zoo's issue 23): at least the best published
# nearest-neighbour baseline, and within this much accuracy of the best published learned model.
GOAL_MARGIN = 0.03
ONE_NN_ED = "1-NN ED"  # the published baseline zoo recomputes: the row of this name is compared digit by digit
COMPUTED_BY_ZOO = "computed by zoo"


def nearest_neighbour_baseline(data) -> dict[str, Any]:
    """zoo's own 1-NN ED (``zoo.metrics.nearest_neighbour_accuracy``) on a dataset's split: fit on the train and
    validation splits together (a given training part, from which zoo draws its validation split, whole again),
    scored on the test split; "not defined" where the series differ in length (no padding)."""
    train, val, test = data.train, data.val, data.test
    how = (f"1-nearest-neighbour with Euclidean distance on the flattened series (scikit-learn KNeighborsClassifier, "
           f"n_neighbors=1), fit on the train and validation splits together ({len(train) + len(val)} samples: the "
           f"whole training part) and scored on the test split ({len(test)})")
    found = {"method": ONE_NN_ED, "how": how, "provenance": f"{COMPUTED_BY_ZOO} {__version__}",
             "data_sha256": data.sha256}
    if any(part.lengths is not None for part in (train, val, test)):
        return {**found, "accuracy": None,
                "note": (f"not defined: the series differ in length ({data.info.min_length} to "
                         f"{data.info.max_length} steps), and Euclidean distance compares series of one length "
                         f"(padding them would change it)")}
    accuracy = nearest_neighbour_accuracy(np.concatenate([train.x, val.x]), np.concatenate([train.y, val.y]),
                                          test.x, test.y)
    return {**found, "accuracy": accuracy}


def _digits(text: str) -> int:
    return len(text.partition(".")[2])


def _goal(goal: str, reference: Mapping[str, Any], target: float, accuracy: float) -> dict[str, Any]:
    margin = round(accuracy - target, 6)
    return {"goal": goal, "reference": {k: reference[k] for k in ("method", "accuracy", "source")},
            "target": round(target, 6), "met": margin >= 0, "margin": margin}


def published_comparison(dataset: DatasetSpec, data, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The card's comparison with the results published for the dataset's own split (``DatasetSpec.published``):
    the published rows, zoo's 1-NN ED computed afresh (and whether it equals the published one to its last digit),
    the model's accuracy with its interval, and the goals it meets or misses and by how much. None where the
    dataset declares no published results or the model has no accuracy."""
    if not dataset.published or not isinstance(metrics.get("accuracy"), (int, float)):
        return None
    rows = [dict(row) for row in dataset.published]
    computed = nearest_neighbour_baseline(data)
    published_ed = next((row for row in rows if row["method"] == ONE_NN_ED), None)
    if published_ed is not None and computed["accuracy"] is not None:
        text = published_ed["accuracy"]
        computed["published"] = text
        computed["equals_published"] = round(computed["accuracy"], _digits(text)) == float(text)
    accuracy = float(metrics["accuracy"])
    intervals = metrics.get("confidence_intervals") or {}
    goals = []
    best = {kind: max((row for row in rows if row["kind"] == kind), key=lambda row: float(row["accuracy"]),
                      default=None) for kind in (NEAREST_NEIGHBOUR, LEARNED)}
    if best[NEAREST_NEIGHBOUR]:
        row = best[NEAREST_NEIGHBOUR]
        goals.append(_goal("at least the best published nearest-neighbour baseline", row, float(row["accuracy"]),
                           accuracy))
    if best[LEARNED]:
        row = best[LEARNED]
        goals.append(_goal(f"within {GOAL_MARGIN:g} of the best published learned model", row,
                           float(row["accuracy"]) - GOAL_MARGIN, accuracy))
    return {"dataset": dataset.name, "split": "test", "test_size": len(data.test), "published": rows,
            "computed": computed,
            "model": {"accuracy": accuracy, "interval": intervals.get("accuracy"), "level": intervals.get("level")},
            "goals": goals}
