"""The core's assessments, chosen by task: what every model's card measures unless a plugin adds more.

Explanations and their quality (``zoo.assess.explain``) and safety measurements
(``zoo.assess.safety``) each say which tasks they fit; this module only gathers them.
"""
from __future__ import annotations

from zoo.assess import Assessment
from zoo.specs import ModelSpec


def core_assessments(spec: ModelSpec) -> list[Assessment]:
    """The core's assessments for ``spec``'s task, explainability first."""
    from zoo.assess import explain, safety

    return [*explain.assessments(spec), *safety.assessments(spec)]
