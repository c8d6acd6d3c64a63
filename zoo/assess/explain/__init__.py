"""Explainability, measured: the core's explanation assessments, chosen by task (never by family).

* Classifiers: attributions per class from integrated gradients, KernelSHAP and LIME (captum), and how
  good each is: a deletion curve against random orders (is the explanation faithful to the model?) and
  the sanity check of Adebayo et al. 2018 (does it depend on what was learned, or only on the
  architecture?). Every input element (pixel; time step x feature) is one feature, the baseline zero.
* Autoencoders: where reconstruction errors fall, and what the code dimensions control.
* Generators: latent interpolations, and for a class-conditional one the class grid.

Everything is seeded from the run (``Context.generator`` / ``Context.rng``): captum's samplers draw
from torch's global generator, so they run inside ``torch.random.fork_rng`` seeded from the context,
leaving the caller's random state as it was. Figures use the card's drawing helpers. One module per
job: ``attributions``, ``faithfulness``, ``reconstruction``, ``generation``; ``_shared`` holds what several use.
"""
from __future__ import annotations

from zoo.assess import Assessment
from zoo.assess.explain._shared import SECTION
from zoo.assess.explain.attributions import measure_attributions
from zoo.assess.explain.faithfulness import measure_attribution_quality
from zoo.assess.explain.generation import measure_latent_interpolation
from zoo.assess.explain.reconstruction import measure_latent_traversal, measure_reconstruction_errors


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
