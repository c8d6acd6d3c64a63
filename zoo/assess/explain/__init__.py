"""Explainability, measured: the core's explanation assessments, chosen by task (never by family).

* Classifiers: attributions per class from integrated gradients, KernelSHAP and LIME (captum), and how
  good each is: a deletion curve against random orders (is the explanation faithful to the model?) and
  the sanity check of Adebayo et al. 2018 (does it depend on what was learned, or only on the
  architecture?). Every input element (pixel; time step x feature) is one feature, the baseline zero.
* Autoencoders: where reconstruction errors fall, and what the code dimensions control.
* Generators: latent interpolations, and for a class-conditional one the class grid.

Everything is seeded from the run (``Context.generator`` / ``Context.rng``): captum's samplers draw
from torch's global generator, so they run inside ``torch.random.fork_rng`` seeded from the context,
leaving the caller's random state as it was. Figures use ``zoo.plots``, as the card's do. One module per
job: ``attributions``, ``faithfulness``, ``reconstruction``, ``generation``; ``_shared`` holds what several use.

Written as a plugin would write them: the modules import only ``zoo.PLUGIN_API`` (and each other,
relatively), so any of them can be copied into a plugin as a template and passes the plugin-API test.
"""
from __future__ import annotations

from zoo.assess import Assessment

from ._shared import SECTION
from .attributions import measure_attributions
from .faithfulness import measure_attribution_quality
from .generation import measure_latent_interpolation
from .reconstruction import measure_latent_traversal, measure_reconstruction_errors


def assessments(spec) -> list[Assessment]:
    """The explanation assessments that fit ``spec``'s task; none for a task zoo does not know."""
    if spec.task == "classification":
        return [Assessment("attributions", SECTION, "Attributions per class (integrated gradients, KernelSHAP, LIME)",
                           measure_attributions),
                Assessment("attribution-quality", SECTION, "How faithful the attributions are: deletion curves "
                           "and a sanity check", measure_attribution_quality)]
    if spec.task == "reconstruction":
        return [Assessment("reconstruction-errors", SECTION, "Where reconstruction errors fall",
                           measure_reconstruction_errors),
                Assessment("latent-traversal", SECTION, "What the code dimensions control", measure_latent_traversal)]
    if spec.task == "generation":
        return [Assessment("latent-interpolation", SECTION, "Latent interpolations", measure_latent_interpolation)]
    return []
