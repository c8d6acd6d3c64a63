"""Safety, measured: calibration, robustness, out-of-distribution detection, privacy leakage, data copying.

Chosen by task, never by family, so a plugin's new classifier, autoencoder or generator is measured
the same way as the built-in ones:

* classifiers: calibration (ECE, reliability diagram, a temperature fitted on validation), robustness
  (noise, shifts, FGSM and PGD), out-of-distribution detection (maximum softmax probability) and
  membership inference (the loss-threshold attack of ``zoo.membership``);
* reconstruction: out-of-distribution detection and membership inference, both with the per-sample
  reconstruction error as the score;
* generation: data copying (Meehan et al. 2020) and class coverage through the reference classifier
  of the Frechet distance (``zoo.metrics.reference_classifier``).

Every number is measured on the test split (calibration fits its temperature on validation; membership
inference and data copying hold it against the training split), with randomness drawn only from the
context's seeded generators, so that the same run gives the same card. One module per measurement:
``calibration``, ``robustness``, ``ood``, ``membership``, ``generation``; ``_shared`` holds what several use.

Written as a plugin would write them: the modules import only ``zoo.PLUGIN_API`` (and each other,
relatively), so any of them can be copied into a plugin as a template and passes the plugin-API test.
"""
from __future__ import annotations

from zoo.assess import Assessment

from ._shared import SECTION
from .calibration import measure_calibration
from .generation import measure_class_coverage, measure_data_copying
from .membership import measure_membership_classifier, measure_membership_reconstruction
from .ood import measure_ood_classifier, measure_ood_reconstruction
from .robustness import measure_robustness

_BY_TASK: dict[str, tuple[Assessment, ...]] = {
    "classification": (
        Assessment("calibration", SECTION, "Calibration", measure_calibration),
        Assessment("robustness", SECTION, "Robustness to noise, shifts and attacks", measure_robustness),
        Assessment("ood-detection", SECTION, "Out-of-distribution detection", measure_ood_classifier),
        Assessment("membership-inference", SECTION, "Privacy: membership inference", measure_membership_classifier),
    ),
    "reconstruction": (
        Assessment("ood-detection", SECTION, "Out-of-distribution detection", measure_ood_reconstruction),
        Assessment("membership-inference", SECTION, "Privacy: membership inference",
                   measure_membership_reconstruction),
    ),
    "generation": (
        Assessment("data-copying", SECTION, "Data copying", measure_data_copying),
        Assessment("class-coverage", SECTION, "Class coverage", measure_class_coverage),
    ),
}


def assessments(spec) -> list[Assessment]:
    """The core's safety assessments for ``spec``'s task (none for a task it does not know)."""
    return list(_BY_TASK.get(spec.task, ()))
