"""Differentially private training (DP-SGD with Opacus) for models the core's classifier recipe trains.

What zoo promises and how:

* **Sampling.** The privacy accounting of DP-SGD assumes Poisson sampling: each step takes each
  training sample independently with probability ``q``. So a private run does not use ``fit``'s
  shuffled batches: it iterates Opacus's own ``DPDataLoader`` (from ``make_private_with_epsilon``),
  whose sampler draws from a generator re-seeded with ``seed + epoch`` before every epoch. That keeps
  one seed, one result, and a resumed run replays exactly the batches an uninterrupted one saw; the
  accountant is stepped by the optimiser with the ``q`` that sampler really uses (``1 / steps``,
  ``steps = ceil(N / batch_size)`` per epoch, expected batch ``q N``).
* **Budget.** ``make_private_with_epsilon`` picks the noise multiplier that spends at most the target
  epsilon over the configured epochs; the accountant (PRV by default, Opacus's own default; RDP on
  request) reports what was actually spent, per epoch in the history and at the end in ``metrics.json``.
  Its history goes into every checkpoint, so a resumed run ends with the same epsilon.
* **Layers.** Opacus needs per-sample gradients. ``ModuleValidator.fix`` replaces BatchNorm (which mixes
  samples in a batch) by GroupNorm; in-place activations are turned off (under Opacus' hooks they fail:
  "a view ... modified inplace"). Only these changes are accepted: Opacus's other replacements (DPLSTM,
  DPGRU, DP attention) re-implement a layer in Python and change what the ONNX export holds, and a layer
  without an Opacus per-sample gradient is refused. ``zoo.models.build`` applies the same changes whenever
  a run's config holds ``dp_epsilon``, so export, evaluation and cards rebuild the trained network.
* **One process.** zoo does not run Opacus's distributed sampler, so private training refuses
  ``--nproc-per-node``/``--nnodes`` above 1.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from zoo.errors import ZooError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from zoo.specs import ModelSpec

KEYS = ("dp_epsilon", "dp_delta", "dp_max_grad_norm", "dp_accountant")
ACCOUNTANTS = ("prv", "rdp")
DELTA_CAP = 1e-5
DEFAULTS: dict[str, Any] = {"dp_delta": DELTA_CAP, "dp_max_grad_norm": 1.0, "dp_accountant": "prv"}
# The layers Opacus may replace without changing what the exported graph computes per sample.
_ACCEPTED_REPLACEMENTS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm")


class PrivacyError(ZooError):
    """Differential privacy was asked for where it cannot work, or with values that mean nothing."""


def is_private(config: Mapping[str, Any]) -> bool:
    """Whether a run's config asks for DP-SGD (and so for the private network, see ``compatible``)."""
    return config.get("dp_epsilon") is not None


def default_delta(train_size: int) -> float:
    """delta = min(1e-5, 1 / (10 N)): the usual 1e-5, and never more than a tenth of one sample's
    share, so that 'leak one whole sample' stays unlikely even on large data."""
    return min(DELTA_CAP, 1.0 / (10 * train_size))


def config_defaults(options: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The DP keys (and their defaults) a run's config gains when a budget is given (``--dp-epsilon`` or
    ``--set dp_epsilon=``); the other DP keys without a budget are refused."""
    if options.get("dp_epsilon") is None and "dp_epsilon" not in overrides:
        stray = [k for k in KEYS if options.get(k) is not None or k in overrides]
        if stray:
            raise PrivacyError(f"{stray[0]} needs --dp-epsilon (differential privacy is off without a budget)")
        return {}
    return {"dp_epsilon": 1.0, **DEFAULTS}  # the budget itself is the user's value, applied by resolve


def finish_config(config: dict[str, Any], given: Mapping[str, Any], train_size: int) -> None:
    """Fill delta from the training set's size unless given, and check every DP value."""
    if not is_private(config):
        return
    if "dp_delta" not in given:
        config["dp_delta"] = default_delta(train_size)
    if not config["dp_epsilon"] > 0:
        raise PrivacyError(f"--dp-epsilon must be positive (got {config['dp_epsilon']})")
    if not 0 < config["dp_delta"] < 1:
        raise PrivacyError(f"--dp-delta must be between 0 and 1 (got {config['dp_delta']})")
    if config["dp_delta"] >= 1.0 / train_size:
        raise PrivacyError(f"--dp-delta {config['dp_delta']} is not below 1/N = {1.0 / train_size:.3g} "
                           f"({train_size} training samples): it would allow leaking a whole sample")
    if not config["dp_max_grad_norm"] > 0:
        raise PrivacyError(f"--dp-max-grad-norm must be positive (got {config['dp_max_grad_norm']})")
    if config["dp_accountant"] not in ACCOUNTANTS:
        raise PrivacyError(f"dp_accountant {config['dp_accountant']!r} is not one of {', '.join(ACCOUNTANTS)}")


def check_processes(config: Mapping[str, Any], processes: int) -> None:
    """Refuse private training on several processes (zoo runs no distributed Poisson sampler)."""
    if is_private(config) and processes > 1:
        raise PrivacyError("differential privacy trains in one process: drop --nproc-per-node/--nnodes "
                           "(the accounting assumes one Poisson sampler over the whole training split)")


def _opacus():
    """Opacus, imported without its notices (secure RNG off: zoo seeds every run on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import opacus
    return opacus


def _fix(model: "torch.nn.Module"):
    """Opacus's fixes applied to a copy of ``model``: (the copy, [(name, old type name, new module)],
    [names of the activations whose in-place mode was turned off])."""
    ModuleValidator = _opacus().validators.ModuleValidator
    before = {name: type(module).__name__ for name, module in model.named_modules()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = ModuleValidator.fix(model)
    replaced = [(name, before[name], module) for name, module in fixed.named_modules()
                if name in before and type(module).__name__ != before[name]]
    inplace = [name for name, module in fixed.named_modules() if getattr(module, "inplace", False) is True]
    for name in inplace:
        fixed.get_submodule(name).inplace = False
    return fixed, replaced, inplace


def compatible(model: "torch.nn.Module") -> tuple["torch.nn.Module", list[str]]:
    """``model`` as Opacus can train it, and each change made ("features.0.1: BatchNorm2d -> GroupNorm").

    ``ModuleValidator.fix`` replaces what Opacus prescribes (it returns a copy; initial values of the
    other layers are unchanged); in-place activations are turned off. Deterministic, so that
    ``zoo.models.build`` rebuilds the same network for export, evaluation and cards.
    """
    fixed, replaced, inplace = _fix(model)
    changes = [f"{name}: {old} -> {type(new).__name__}" + (f" ({new.num_groups} groups)" if hasattr(new, "num_groups")
                                                           else "") for name, old, new in replaced]
    changes += [f"{name}: {type(fixed.get_submodule(name)).__name__}(inplace=True) -> inplace=False"
                for name in inplace]
    return fixed, changes


def unsupported_layers(model: "torch.nn.Module") -> str | None:
    """Why Opacus cannot train ``model`` so that it still exports as built, or None when it can."""
    opacus = _opacus()
    fixed, replaced, _ = _fix(model)
    for name, old, new in replaced:
        if old not in _ACCEPTED_REPLACEMENTS:
            return (f"Opacus replaces {old} ({name}) by {type(new).__name__}, which re-implements the layer "
                    f"and changes the exported ONNX graph")
    errors = opacus.validators.ModuleValidator.validate(fixed, strict=False)
    if errors:
        return f"Opacus: {str(errors[0]).splitlines()[0]}"
    samplers = opacus.GradSampleModule.GRAD_SAMPLERS
    for name, module in fixed.named_modules():
        if any(p.requires_grad for p in module.parameters(recurse=False)) and type(module) not in samplers:
            return f"Opacus has no per-sample gradient for {type(module).__name__} ({name})"
    return None


def support(spec: "ModelSpec", model: "torch.nn.Module | Callable[[ModelSpec], torch.nn.Module]") -> str | None:
    """Why ``--dp-epsilon`` cannot train ``spec`` (its training must be the core's classifier recipe, and
    its layers must suit Opacus), or None when it can. ``model`` is the network, or a builder called with
    ``spec`` only when the recipe can train it (``zoo.models.build_default``)."""
    from zoo.options import recipe_refusal

    reason = recipe_refusal(spec, "differential privacy")
    if reason:
        return reason
    return unsupported_layers(model if isinstance(model, _module_type()) else model(spec))


def _module_type() -> type:
    import torch

    return torch.nn.Module


def require_support(spec: "ModelSpec", model: "torch.nn.Module") -> None:
    reason = support(spec, model)
    if reason:
        raise PrivacyError(f"--dp-epsilon: {spec.name} cannot train with differential privacy: {reason}")


class PoissonBatches:
    """The batches of Opacus's ``DPDataLoader`` (each sample taken with probability q, independently),
    its generator re-seeded with ``seed + epoch`` so that every epoch is reproducible and resumable."""

    def __init__(self, loader, generator: "torch.Generator", seed: int, device: str) -> None:
        self.loader, self.generator, self.seed, self.device = loader, generator, seed, device

    def steps(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int) -> Iterable["torch.Tensor"]:
        self.generator.manual_seed(self.seed + epoch)
        for (index,) in self.loader:
            yield index.to(self.device)


class PrivateTraining:
    """One private run: its settings from the config, then Opacus's engine once ``attach`` is called."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.epsilon = float(config["dp_epsilon"])
        self.delta = float(config["dp_delta"])
        self.max_grad_norm = float(config["dp_max_grad_norm"])
        self.accountant = str(config["dp_accountant"])
        self.engine = None
        self.optimizer = None
        self.module = None
        self.steps_per_epoch = 0

    @property
    def attached(self) -> bool:
        return self.engine is not None

    def attach(self, model, optimizer, train_size: int, batch_size: int, epochs: int, seed: int, device: str):
        """Make ``model`` and ``optimizer`` private for ``epochs`` over ``train_size`` samples.

        Returns the module to call in the step (Opacus's GradSampleModule around ``model``; ``model``
        itself keeps the weights, so checkpoints and the saved weights are the plain network), the DP
        optimiser (per-sample clipping, then Gaussian noise; it steps the accountant), and the batches.
        """
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        opacus = _opacus()
        # Opacus's per-sample hooks fire on the first layer, whose input needs no gradient: expected here
        warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed")
        generator = torch.Generator()
        loader = DataLoader(TensorDataset(torch.arange(train_size)), batch_size=batch_size, generator=generator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = opacus.PrivacyEngine(accountant=self.accountant)
            try:
                module, optimizer, loader = engine.make_private_with_epsilon(
                    module=model, optimizer=optimizer, data_loader=loader, target_epsilon=self.epsilon,
                    target_delta=self.delta, epochs=epochs, max_grad_norm=self.max_grad_norm)
            except ValueError as exc:  # no noise level Opacus tries spends this little ("budget is too low")
                raise PrivacyError(f"--dp-epsilon {self.epsilon:g} over {epochs} epochs: Opacus: {exc}") from None
        self.engine = engine
        self.steps_per_epoch = len(loader)
        exact = epochs * self.steps_per_epoch
        if int(epochs / loader.sample_rate) != exact:
            # Opacus truncates epochs / q in floating point (75 steps an epoch: 3 epochs -> 224 steps);
            # the budget must cover the steps this loop really takes
            optimizer.noise_multiplier = opacus.accountants.utils.get_noise_multiplier(
                target_epsilon=self.epsilon, target_delta=self.delta, sample_rate=loader.sample_rate,
                steps=exact, accountant=self.accountant)
        self.optimizer, self.module = optimizer, module
        return module, optimizer, PoissonBatches(loader, generator, seed, device)

    def states(self) -> dict[str, Any]:
        """What a checkpoint carries for the privacy accounting: the accountant (its step history)."""
        return {"privacy_accountant": self.engine.accountant}

    def spent(self) -> float:
        """The epsilon spent so far, by the accountant's bound (0 before the first step)."""
        if not len(self.engine.accountant):
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(self.engine.accountant.get_epsilon(delta=self.delta))

    def detach(self) -> None:
        """Remove Opacus's hooks from the trained network (it is the plain module again)."""
        if self.module is not None:
            self.module.cleanup()

    def summary(self) -> dict[str, Any]:
        """The guarantee as metrics.json records it."""
        history = self.engine.accountant.history
        sample_rate = history[-1][1] if history else 1.0 / self.steps_per_epoch
        return {
            "epsilon": round(self.spent(), 6), "target_epsilon": self.epsilon, "delta": self.delta,
            "accountant": self.accountant, "max_grad_norm": self.max_grad_norm,
            "noise_multiplier": float(self.optimizer.noise_multiplier), "sample_rate": sample_rate,
            "steps": int(sum(steps for _, _, steps in history)),
            "expected_batch_size": int(self.optimizer.expected_batch_size),
            "sampling": "Poisson (Opacus DPDataLoader), generator seeded with seed + epoch",
            "clipping": "flat (all parameters' per-sample gradient together)",
            "library": f"opacus {_opacus().__version__}",
        }


def plain_words(epsilon: float, delta: float) -> str:
    """What (epsilon, delta) promise, for a card's reader."""
    factor = math.exp(epsilon)
    times = f"{factor:,.0f}" if factor >= 100 else f"{factor:.3g}"
    return (f"Whether or not any one training sample was used, every outcome of training (these weights, and "
            f"anything computed from them) is at most e^{epsilon:.3g} = {times} times more or less likely, "
            f"except with probability delta = {delta:.3g}. The smaller epsilon, the less the model can reveal "
            f"about any one sample; the guarantee covers the training data only, not the validation or test "
            f"splits, and holds whatever an attacker knows.")
