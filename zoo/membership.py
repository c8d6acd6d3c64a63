"""How much a classifier reveals about who was in its training set: the loss-threshold
membership-inference attack (Yeom et al. 2018), measured as an AUROC.

The attacker sees one sample with its label and the model's loss on it, and guesses "member" when the
loss is low. Scoring every training sample (members) and every test sample (non-members) by minus the
loss and computing the ROC AUC (scikit-learn's ``roc_auc_score``) gives the attack's power over all
thresholds: 0.5 is guessing, 1.0 picks out every member. The membership advantage (Yeom et al.: the
best TPR - FPR over thresholds) is reported beside it. Deterministic: no sampling, eval mode.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from zoo.data import Arrays, Data
from zoo.recipes import lengths_of
from zoo.training import predict_batches

ATTACK = "loss threshold (Yeom et al. 2018): members = training split, non-members = test split"


def sample_losses(model: torch.nn.Module, split: Arrays) -> np.ndarray:
    """Cross-entropy of each sample of ``split`` under ``model`` (eval mode, no augmentation; sequences of
    different lengths read with their lengths)."""
    model.eval()
    logits = predict_batches(model, torch.from_numpy(split.x), lengths=lengths_of(split))
    return torch.nn.functional.cross_entropy(logits, torch.from_numpy(split.y), reduction="none").numpy()


def threshold_attack(members: np.ndarray, outsiders: np.ndarray, attack: str = ATTACK) -> dict[str, Any]:
    """AUROC and advantage of guessing "member" for a low loss, from any per-sample losses (any task's)."""
    from sklearn.metrics import roc_curve

    from zoo.metrics import separation

    truth = np.r_[np.ones(len(members)), np.zeros(len(outsiders))]
    fpr, tpr, _ = roc_curve(truth, -np.r_[members, outsiders])
    return {"auroc": round(separation(-members, -outsiders), 6),
            "advantage": round(float(np.max(tpr - fpr)), 6),
            "members": int(len(members)), "non_members": int(len(outsiders)),
            "member_loss": round(float(members.mean()), 6), "non_member_loss": round(float(outsiders.mean()), 6),
            "attack": attack}


def loss_attack(model: torch.nn.Module, data: Data) -> dict[str, Any]:
    """The attack's AUROC and advantage on ``data``'s training (members) and test (non-members) splits."""
    return threshold_attack(sample_losses(model, data.train), sample_losses(model, data.test))
