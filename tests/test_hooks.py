"""Hooks are removed and the mode restored, also after an exception."""

import pytest
import torch
from torch import nn

from cam_helpers.hooks import capture, count_hooks, resolve_layer


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


def test_keep_graph_capture_survives_inplace_ops_downstream():
    model = tiny()
    x = torch.randn(2, 3, 8, 8)
    with capture(model, "0", keep_graph=True) as captured:
        out = model(x)[:, 1].sum()
    (grad,) = torch.autograd.grad(out, captured["0"])  # through the in-place ReLU, no error
    assert (captured["0"] < 0).any() and grad.shape == captured["0"].shape


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


def test_keep_graph_allows_gradients_even_under_no_grad():
    model = tiny()
    with torch.no_grad():
        with capture(model, "2", keep_graph=True) as captured:
            score = model(torch.randn(1, 3, 8, 8))[0, 1]  # index inside the block: graph recorded
        (grad,) = torch.autograd.grad(score, captured["2"])
    torch.testing.assert_close(grad.flatten(), model[4].weight[1])
    assert all(p.grad is None for p in model.parameters())


def test_unknown_layer_names_suggest_close_ones():
    model = nn.Sequential()
    model.add_module("layer4", nn.Identity())
    with pytest.raises(ValueError, match="layer4"):
        resolve_layer(model, "layr4")
    with pytest.raises(KeyError, match="captured"):
        with capture(model, "layer4") as captured:
            pass
        captured["layer4"]
