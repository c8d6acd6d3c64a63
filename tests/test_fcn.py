"""The FCN family (Wang, Yan and Oates 2017): sized from the data, masked so that padding never changes an
answer (batch norm's training statistics included), exported with a dynamic time axis that `zoo verify`
checks at other lengths, and a spec whose config and card are complete."""
from __future__ import annotations

import pytest
import torch

import zoo
from conftest import invoke_zoo
from zoo.bundle.verify import verify
from zoo.data import DataError, DataInfo
from zoo.models import build, build_default
from zoo.registry import get_model
from zoo_fcn.models import FCN, masked_batch_norm

NAME = "fcn-digits-rows"
PAPER = {"channels": [128, 256, 128], "kernels": [8, 5, 3]}


def test_the_spec_describes_every_key_and_the_card_is_complete():
    spec = get_model(NAME)
    assert spec.family == "fcn" and spec.task == "classification" and spec.dataset == "digits-rows"
    assert {"channels", "kernels", "dropout"} <= set(spec.default_config)
    result = invoke_zoo("info", NAME)
    assert result.code == 0 and "(no description)" not in result.out and "kernel size of each conv block" in result.out
    card = zoo.plugins.call_model_hook("zoo_model_card", spec)
    assert card["license"] == "mit" and "Wang, Yan and Oates" in card["description"]


def test_sized_from_the_data_and_small_on_the_digits():
    model = build_default(get_model(NAME))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.in_channels for c in convs][0] == 8 and model.head.out_features == 10
    assert [c.kernel_size[0] for c in convs] == [8, 5, 3], "the paper's kernels"
    assert sum(p.numel() for p in model.parameters()) < 100_000, "within the committed zoo's size budget"
    spec = get_model(NAME)
    other = build(spec, {**spec.default_config, **PAPER}, DataInfo("vowels", "sequence", (29, 12), 9, min_length=7,
                                                                    max_length=29))
    assert other.blocks[0].conv.in_channels == 12 and other.head.out_features == 9
    assert [b.conv.out_channels for b in other.blocks] == PAPER["channels"]


def test_refuses_what_it_cannot_read_in_one_line():
    spec = get_model(NAME)
    with pytest.raises(DataError, match=r"reads sequences \(N, T, F\); got image samples shaped \(3, 28, 28\)"):
        build(spec, spec.default_config, DataInfo("photos", "image", (3, 28, 28), 2))
    with pytest.raises(DataError, match="same number of conv blocks"):
        build(spec, {**spec.default_config, "kernels": [8, 5]}, DataInfo("rows", "sequence", (8, 8), 10))
    vowels = DataInfo("vowels", "sequence", (29, 12), 9, min_length=7, max_length=29)
    with pytest.raises(DataError, match="cannot train privately on sequences of different lengths"):
        build(spec, {**spec.default_config, "dp_epsilon": 8.0}, vowels)
    assert build(spec, {**spec.default_config, "dp_epsilon": 8.0}, DataInfo("rows", "sequence", (8, 8), 10))


def test_batch_norm_statistics_come_from_the_valid_steps_only():
    torch.manual_seed(0)
    h = torch.randn(5, 4, 9)
    lengths = torch.tensor([9, 3, 6, 1, 7])
    mask = (torch.arange(9)[None, :] < lengths[:, None]).float()[:, None, :]
    h = h * mask + 100.0 * (1 - mask)  # padding far from the data: it must change nothing
    masked, plain = torch.nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        masked.weight.uniform_(0.5, 2)
        masked.bias.uniform_(-1, 1)
        plain.load_state_dict(masked.state_dict())
    valid = h.permute(0, 2, 1)[mask[:, 0].bool()]  # (valid steps, channels): what the sequences really hold
    expected = plain(valid)
    got = masked_batch_norm(h, mask, masked).permute(0, 2, 1)[mask[:, 0].bool()]
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    assert int(masked.num_batches_tracked) == 1


def test_training_on_padded_batches_sees_each_sequence_as_alone():
    """One training step on a batch padded to 12 and on the same sequences padded to their own longest (9)
    leaves the same weights and running statistics: the padding reaches neither gradients nor statistics."""
    torch.manual_seed(0)
    x = torch.randn(6, 12, 3)
    lengths = torch.tensor([9, 4, 7, 2, 9, 5])
    results = []
    for steps in (12, 9):
        torch.manual_seed(1)
        model = FCN(3, 2, channels=(4, 8, 4)).train()
        out = model(x[:, :steps], lengths)
        torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 0, 1, 0, 1])).backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()],
                        [b.clone() for b in model.buffers()]))
    (out12, grads12, stats12), (out9, grads9, stats9) = results
    torch.testing.assert_close(out12, out9)
    for a, b in zip(grads12 + stats12, grads9 + stats9):
        torch.testing.assert_close(a, b)


def test_trains_and_verifies_at_other_lengths(tiny_run, tiny_bundle):
    """The TorchScript exporter keeps the time axis dynamic; `zoo verify` runs T/2 and 2T+1 against PyTorch."""
    metrics = tiny_run(NAME).metrics()["metrics"]
    assert metrics["accuracy"] > 0.3, "three tiny epochs beat chance (0.1) by far"
    report = verify(tiny_bundle(NAME))
    assert report["passed"], report
    cases = {row["case"] for row in report["checks"] if row["status"] == "pass" and row["reference"] == "pytorch"}
    assert {"random b=1 time=4", "random b=1 time=17"} <= cases

