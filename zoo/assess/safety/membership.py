"""Membership inference: how well a loss threshold tells training samples from unseen ones, i.e. how much
the model leaks about who was in its training set. The attack itself is ``zoo.membership``'s."""
from __future__ import annotations

import numpy as np

from zoo.assess import Context, Result, Table
from ._shared import histograms, reconstruction_errors, save_figure


def _membership_result(ctx: Context, members: np.ndarray, outsiders: np.ndarray, loss: str, attack: str) -> Result:
    """The threshold attack's numbers, a verdict, and the two loss histograms it separates."""
    from zoo.plots import pyplot
    from zoo.membership import threshold_attack

    values = threshold_attack(members, outsiders, attack)
    auroc, advantage = values["auroc"], values["advantage"]
    verdict = ("little leaks: training samples look like unseen ones to the attacker" if auroc < 0.55
               else "some membership leaks" if auroc < 0.65
               else "membership leaks measurably: the model fits its training samples clearly better than unseen ones")
    summary = (f"A threshold attack on the {loss} tells training samples from test samples with AUROC {auroc:.3f} "
               f"(advantage {advantage:.3f}; mean {loss} {values['member_loss']:.4g} on training, "
               f"{values['non_member_loss']:.4g} on test). With 0.5 meaning nothing leaks, {verdict}.")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
    histograms(ax, {"training (members)": members, "test (non-members)": outsiders}, loss, log=True)
    figure = save_figure(ctx, "losses", fig,
                          f"Per-sample {loss} of training samples (members) and test samples (non-members): the attack "
                          f"guesses 'member' below a threshold, so the more the histograms differ, the more leaks.")
    table = Table(["", "samples", f"mean {loss}"],
                  [["training (members)", values["members"], values["member_loss"]],
                   ["test (non-members)", values["non_members"], values["non_member_loss"]]],
                  f"Attack AUROC {auroc:.3f}, advantage (best TPR - FPR) {advantage:.3f}.")
    return Result(summary, values, [table], [figure],
                  method=("Loss-threshold membership inference (Yeom et al. 2018, 'Privacy Risk in Machine "
                          "Learning'): every training sample a member, every test sample not; AUROC and advantage "
                          "by scikit-learn's roc_curve and roc_auc_score (zoo.membership)."))


def measure_membership_classifier(ctx: Context) -> Result:
    """The loss-threshold attack on cross-entropy, as ``zoo.membership.loss_attack`` measures it."""
    from zoo.membership import ATTACK, sample_losses

    return _membership_result(ctx, sample_losses(ctx.model, ctx.data.train), sample_losses(ctx.model, ctx.data.test),
                              "cross-entropy", ATTACK)


def measure_membership_reconstruction(ctx: Context) -> Result:
    """The same attack with the reconstruction error as the loss: no labels needed."""
    attack = "reconstruction-error threshold (Yeom et al. 2018): members = training split, non-members = test split"
    return _membership_result(ctx, reconstruction_errors(ctx.model, ctx.data.train.x),
                              reconstruction_errors(ctx.model, ctx.data.test.x), "reconstruction error", attack)
