"""The training options of the core's classifier recipe, and which models they can train.

``privacy`` (DP-SGD with Opacus), ``distill`` (a teacher run) and ``baseline`` (the run a private or
distilled run is compared with). They sit below the model plumbing (``zoo.models`` builds the private
network with ``privacy.compatible``), so what needs a built or trained network receives the builder or
``load_trained`` from its caller instead of importing upward. Imports the plugin host and layers below.

Differential privacy (``zoo.options.privacy``) and distillation (``zoo.options.distill``) live inside
``zoo.recipes.train_classifier``, which trains a model only where the core's default ``zoo_train``
answers for it: a classifier whose plugin implements no ``zoo_train`` of its own. Torch-free, so
that ``zoo info`` answers for the other models at once.
"""
from __future__ import annotations

from zoo.specs import ModelSpec


def recipe_refusal(spec: ModelSpec, what: str) -> str | None:
    """Why ``what`` cannot train ``spec`` (its training is not the core's classifier recipe), or None."""
    if spec.task != "classification":
        return f"{what} works through the core's classifier recipe, and {spec.name} is a {spec.task} model"
    from zoo.plugins import owner_implements

    if owner_implements("zoo_train", spec):
        return (f"{what} works through the core's classifier recipe, and plugin {spec.plugin!r} trains "
                f"{spec.name} with its own zoo_train")
    return None
