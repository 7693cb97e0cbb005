"""cam_helpers/hooks.py: capture records the layers asked for; hooks are removed and the mode restored, also after an exception."""

import pytest
import torch
from torch import nn

from cam_helpers.hooks import capture, count_hooks, eval_mode, resolve_layer


def tiny():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def test_capture_records_the_layer_output_and_cleans_up():
    model = tiny().train()
    x = torch.randn(2, 3, 8, 8)
    with capture(model, "0") as captured:
        assert count_hooks(model) == 1
        assert not model.training  # eval inside the block
        model(x)
    assert count_hooks(model) == 0
    assert model.training  # mode restored
    expected = model[0](x)
    # The in-place ReLU right after the conv must not change what was captured.
    assert (expected < 0).any()
    torch.testing.assert_close(captured["0"], expected)


def test_start_graph_capture_survives_inplace_ops_downstream():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    with capture(model, "0", start_graph=True) as captured:
        out = model(x)[:, 1].sum()
    (grad,) = torch.autograd.grad(out, captured["0"])  # through the in-place ReLU, no error
    assert (captured["0"] < 0).any() and grad.shape == captured["0"].shape
    # The graph starts at the layer: the captured tensor is a leaf, and nothing below gets a gradient.
    assert captured["0"].is_leaf
    assert all(p.grad is None for p in model.parameters())


def test_hooks_removed_and_mode_restored_after_an_exception():
    model = tiny().train()
    with pytest.raises(RuntimeError):
        with capture(model, ["0", "4"]):
            assert count_hooks(model) == 2
            model(torch.randn(2, 5, 8, 8))  # wrong channel count
    assert count_hooks(model) == 0
    assert model.training


def test_many_captures_leave_no_hooks():
    model = tiny().eval()
    for _ in range(50):
        with capture(model, "0"):
            model(torch.randn(1, 3, 8, 8))
    assert count_hooks(model) == 0
    assert not model.training


def test_start_graph_allows_gradients_even_under_no_grad():
    model = tiny()
    with torch.no_grad():
        with capture(model, "2", start_graph=True) as captured:
            score = model(torch.randn(1, 3, 8, 8))[0, 1]  # index inside the block: graph recorded
        assert not torch.is_grad_enabled()  # the caller's mode is back after the block
        (grad,) = torch.autograd.grad(score, captured["2"])
    torch.testing.assert_close(grad.flatten(), model[4].weight[1])
    assert all(p.grad is None for p in model.parameters())


def test_unknown_layer_names_suggest_close_ones():
    model = nn.Sequential()
    model.add_module("layer4", nn.Identity())
    model.add_module("fc", nn.Identity())
    with pytest.raises(ValueError, match=r"no layer named 'layr4'\. Did you mean 'layer4'\? Its top-level layers are: layer4, fc\."):
        resolve_layer(model, "layr4")
    with pytest.raises(KeyError, match="captured"):
        with capture(model, "layer4") as captured:
            pass
        captured["layer4"]


class FrozenBatchNormNet(nn.Module):
    """A model in training whose BatchNorm is deliberately kept in eval mode (frozen statistics)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)))


def flags(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def test_eval_mode_restores_every_modules_flag():
    model = FrozenBatchNormNet().train()
    model.bn.eval()
    before = flags(model)
    assert before[""] and not before["bn"] and before["conv"]
    with eval_mode(model):
        assert not any(flags(model).values())
    assert flags(model) == before  # model.train(True) would have switched the BatchNorm on
    with eval_mode(model, train=True):
        assert all(flags(model).values())
    assert flags(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert flags(model) == before


def test_capture_restores_a_frozen_batchnorm_and_its_statistics():
    model = FrozenBatchNormNet().train()
    model.bn.eval()
    before = flags(model)
    mean_before = model.bn.running_mean.clone()
    with capture(model, "bn") as captured:
        model(torch.randn(2, 3, 8, 8))
    assert captured["bn"].shape == (2, 4, 8, 8)
    assert flags(model) == before
    assert torch.equal(model.bn.running_mean, mean_before)  # eval inside: statistics untouched
    with pytest.raises(RuntimeError):
        with capture(model, ["conv", "bn"], start_graph=True):
            model(torch.randn(2, 5, 8, 8))  # wrong channel count
    assert flags(model) == before and count_hooks(model) == 0


class TwoOutputs(nn.Module):
    def forward(self, x):
        return x, x.mean()  # a tuple: not a feature map


def test_capture_names_the_layers_keeps_their_order_and_names_non_tensor_outputs():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), TwoOutputs())
    x = torch.randn(1, 3, 8, 8)
    with capture(model, [model[1], "0", "2"]) as captured:
        model(x)
    assert captured.layers == ["1", "0", "2"]  # resolved names, in the order asked
    assert [name for name, _ in captured.order] == ["0", "1"]  # the order the layers finished
    torch.testing.assert_close(captured.order[1][1], torch.relu(model[0](x)))
    assert captured.not_tensors == {"2": "tuple"} and "2" not in captured
    with pytest.raises(KeyError, match=r"layer '2' returns a tuple, not a tensor"):
        captured["2"]
    with pytest.raises(KeyError, match="nothing was captured for layer 'missing'"):
        captured["missing"]


def test_capture_reads_transformer_tokens_as_a_map_and_gradients_reach_the_patch_tokens():
    from cam_helpers.tokens import TokenGrid

    torch.manual_seed(0)
    block = nn.Linear(4, 4)
    model = nn.Sequential(block, nn.Linear(4, 4))  # tokens (B, 1 + 2 * 2, 4) in, the same out
    tokens = torch.randn(2, 5, 4)
    with capture(model, ["0"], tokens=TokenGrid()) as captured:
        out = model(tokens)
    assert captured.token_grids == {"0": TokenGrid(prefix=1, grid=(2, 2))}
    expected = block(tokens).detach()
    assert torch.equal(captured["0"], expected[:, 1:].transpose(1, 2).reshape(2, 4, 2, 2))  # (B, D, h, w)
    assert torch.allclose(out, model(tokens))  # the model's output is unchanged
    with capture(model, ["0"], start_graph=True, tokens=TokenGrid()) as captured:
        out = model(tokens)
    (grad,) = torch.autograd.grad(out[:, 1:].sum(), captured["0"])  # only the patch tokens' outputs
    # d sum(out patch tokens) / d map = the column sums of the second layer's weight, at every place.
    column_sums = model[1].weight.sum(dim=0)  # (4,)
    assert torch.allclose(grad, column_sums[None, :, None, None].expand(2, 4, 2, 2))
    assert count_hooks(model) == 0
