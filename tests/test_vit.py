"""The small Vision Transformer (cam_helpers.vit): shapes, the GAP identity of the mean head, the class-token
head's blind last block, attention rollout against a hand computation, the trained accuracy, and Grad-CAM on
token layers against pytorch-grad-cam and torchcam."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from cam_helpers.cam import class_activation_maps, normalize_maps, upsample_maps
from cam_helpers.hooks import capture, count_hooks
from cam_helpers.synthetic import make_shapes
from cam_helpers.train import accuracy
from cam_helpers.vit import (
    VIT_SETTINGS,
    SmallViT,
    attention_rollout,
    fuse_heads,
    rollout_from_attentions,
    train_small_vit,
    vit_splits,
)

HEADS = ("mean", "class_token")
DEPTH = VIT_SETTINGS["depth"]
LAST = f"blocks.{DEPTH - 1}"
BEFORE_LAST = f"blocks.{DEPTH - 2}"


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return make_shapes(3, seed=5).images  # (3, 3, 64, 64)


@pytest.fixture(scope="module")
def models() -> dict[str, SmallViT]:
    """Untrained, seeded: the identities below hold for any weights."""
    return {head: SmallViT(4, head=head, seed=0, **VIT_SETTINGS).eval() for head in HEADS}


# --------------------------------------------------------------------------- #
# Shapes and the two heads
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("head, num_tokens", [("mean", 64), ("class_token", 65)])
def test_every_block_keeps_the_tokens_shape(models, images, head, num_tokens):
    model = models[head]
    dim, heads = VIT_SETTINGS["dim"], VIT_SETTINGS["heads"]
    blocks = [f"blocks.{i}" for i in range(DEPTH)]
    probs = [f"{name}.attn.probs" for name in blocks]
    with capture(model, ["patch_embed", *blocks, *probs, "norm"]) as captured:
        logits = model(images)
    assert logits.shape == (3, 4)
    assert captured["patch_embed"].shape == (3, dim, 8, 8)  # one D-vector per 8x8 patch
    for name in [*blocks, "norm"]:
        assert captured[name].shape == (3, num_tokens, dim), name
    for name in probs:
        assert captured[name].shape == (3, heads, num_tokens, num_tokens), name
        torch.testing.assert_close(captured[name].sum(-1), torch.ones(3, heads, num_tokens))  # softmax rows
    assert model.grid == (8, 8) and model.prefix == num_tokens - 64
    assert count_hooks(model) == 0


def test_the_seed_fixes_the_initial_weights():
    a, b, c = SmallViT(4, seed=0), SmallViT(4, seed=0), SmallViT(4, seed=1)
    state_a, state_b, state_c = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not torch.equal(state_a["position"], state_c["position"])


def test_vit_s_own_patch_embedding_gives_the_same_grid(images):
    model = SmallViT(4, head="class_token", stem="patch", seed=0).eval()
    assert isinstance(model.patch_embed, nn.Conv2d) and model.patch_embed.stride == (8, 8)
    with capture(model, ["patch_embed", "norm"]) as captured:
        model(images)
    assert captured["patch_embed"].shape == (3, 64, 8, 8) and captured["norm"].shape == (3, 65, 64)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="head must be 'mean' or 'class_token'"):
        SmallViT(4, head="cls")
    with pytest.raises(ValueError, match="multiple of patch_size"):
        SmallViT(4, image_size=60, patch_size=8)
    with pytest.raises(ValueError, match="multiple of heads"):
        SmallViT(4, dim=30, heads=4)
    with pytest.raises(ValueError, match="stem must be 'patch' or 'conv'"):
        SmallViT(4, stem="resnet")


def test_the_mean_head_is_a_gap_network(models, images):
    """At ``cam_layer`` ("norm"), logit_c = mean_xy M_c(x, y) + b_c with M_c = w_c . tokens (CAM is exact)."""
    model = models["mean"]
    assert model.cam_layer == "norm" and models["class_token"].cam_layer is None
    with capture(model, model.cam_layer) as captured:
        logits = model(images)  # (B, K)
    tokens = captured["norm"]  # (B, 64, D)
    features = tokens.transpose(1, 2).reshape(3, -1, 8, 8)  # (B, D, 8, 8), the patch grid row by row
    maps = class_activation_maps(features, model.fc.weight)  # (B, K, 8, 8), no bias
    torch.testing.assert_close(maps.mean(dim=(-2, -1)) + model.fc.bias, logits, atol=1e-5, rtol=0)


def perturb_patch_tokens(model: SmallViT, layer: str, images: torch.Tensor) -> torch.Tensor:
    """The logits when the patch tokens of ``layer``'s output are replaced by noise (class token kept)."""
    prefix = model.prefix

    def hook(_module, _inputs, output):
        noisy = output.clone()
        noisy[:, prefix:] = torch.randn(noisy[:, prefix:].shape, generator=torch.Generator().manual_seed(1))
        return noisy

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(images)
    finally:
        handle.remove()


def test_the_class_token_head_never_reads_the_last_blocks_patch_tokens(models, images):
    model = models["class_token"]
    with torch.no_grad():
        logits = model(images)
    assert torch.equal(perturb_patch_tokens(model, LAST, images), logits)  # bit for bit: never read
    # The controls: one block earlier the class token still attends to them, and the mean head reads them.
    assert (perturb_patch_tokens(model, BEFORE_LAST, images) - logits).abs().max() > 1e-2
    with torch.no_grad():
        mean_logits = models["mean"](images)
    assert (perturb_patch_tokens(models["mean"], LAST, images) - mean_logits).abs().max() > 1e-2


# --------------------------------------------------------------------------- #
# Attention rollout against a hand computation
# --------------------------------------------------------------------------- #


class FixedAttention(nn.Module):
    """Stands in for ``attn.probs``: returns the given attention (heads, N, N) for every image."""

    def __init__(self, attention: torch.Tensor):
        super().__init__()
        self.attention = attention

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        assert probs.shape[1:] == self.attention.shape  # (B, heads, N, N)
        return self.attention.expand_as(probs)


def two_block_model(head: str, attentions: list[torch.Tensor]) -> SmallViT:
    """A 2-block ViT on 4x4 images with a 2x2 patch grid, whose attention is set by hand."""
    model = SmallViT(4, head=head, image_size=4, patch_size=2, dim=8, depth=2, heads=2, seed=0).eval()
    for block, attention in zip(model.blocks, attentions):
        block.attn.probs = FixedAttention(attention)
    return model


def test_rollout_of_a_class_token_model_by_hand():
    """Tokens: 0 = class token, 1..4 = the patches (row by row on the 2x2 grid).

    Block 1: the class token reads the patches evenly (head 0: patches 1, 2; head 1: patches 3, 4),
    each patch reads itself. Head mean, + I, rows renormalised:
        Â1[0] = ([0, 1/4, 1/4, 1/4, 1/4] + e0) / 2 = [1/2, 1/8, 1/8, 1/8, 1/8];   Â1[i] = e_i (i >= 1)
    Block 2 (both heads alike): the class token reads patch 1, every patch reads patch 2:
        Â2[0] = (e1 + e0) / 2 = [1/2, 1/2, 0, 0, 0]
    Row 0 of Â2 Â1 = 1/2 Â1[0] + 1/2 Â1[1] = [1/4, 1/16 + 1/2, 1/16, 1/16, 1/16]
    -> the map (patch columns): [[9/16, 1/16], [1/16, 1/16]].
    """
    identity = torch.eye(5)
    block1 = torch.stack([identity.clone(), identity.clone()])  # (heads, N, N)
    block1[0, 0] = torch.tensor([0, 1 / 2, 1 / 2, 0, 0])
    block1[1, 0] = torch.tensor([0, 0, 0, 1 / 2, 1 / 2])
    block2_head = torch.zeros(5, 5)
    block2_head[0, 1] = 1  # class token -> patch 1
    block2_head[1:, 2] = 1  # every patch -> patch 2
    block2 = torch.stack([block2_head, block2_head])
    model = two_block_model("class_token", [block1, block2])
    maps = attention_rollout(model, torch.rand(2, 3, 4, 4))  # (B, 2, 2)
    expected = torch.tensor([[9 / 16, 1 / 16], [1 / 16, 1 / 16]])
    torch.testing.assert_close(maps, expected.expand(2, 2, 2), atol=1e-7, rtol=0)
    assert count_hooks(model) == 0


def test_rollout_of_a_mean_pooled_model_by_hand():
    """Tokens 0..3 = the patches. Block 1: every token reads token 0; block 2: uniform (1/4 each).
        Â1[0] = e0, Â1[i] = (e0 + e_i) / 2;   Â2 = (1/4 + I) / 2: 5/8 on the diagonal, 1/8 off it.
        R = Â2 Â1: R[0, 0] = 5/8 + 3 * 1/8 * 1/2 = 13/16, R[i, 0] = 1/8 + (5/8 + 2/8) / 2 = 9/16,
                   R[j, j] = 5/8 * 1/2 = 5/16, R[i, j] = 1/8 * 1/2 = 1/16 (i != j, j >= 1).
    The mean of the rows: column 0 (13 + 3 * 9) / 64 = 5/8, columns j >= 1 (5 + 3) / 64 = 1/8.
    """
    block1_head = torch.zeros(4, 4)
    block1_head[:, 0] = 1
    block1 = torch.stack([block1_head, block1_head])
    block2 = torch.full((2, 4, 4), 1 / 4)
    model = two_block_model("mean", [block1, block2])
    maps = attention_rollout(model, torch.rand(1, 3, 4, 4))
    torch.testing.assert_close(maps, torch.tensor([[[5 / 8, 1 / 8], [1 / 8, 1 / 8]]]), atol=1e-7, rtol=0)


def test_rollout_multiplies_later_blocks_on_the_left():
    """With 3 random row-stochastic blocks, R[i, j] = sum_k,l Â3[i, k] Â2[k, l] Â1[l, j], written out."""
    g = torch.Generator().manual_seed(0)
    blocks = [torch.rand(1, 3, 3, generator=g).softmax(-1) for _ in range(3)]
    hat = [(a[0] + torch.eye(3)) / (a[0] + torch.eye(3)).sum(-1, keepdim=True) for a in blocks]
    expected = torch.zeros(3, 3)
    for i in range(3):
        for j in range(3):
            expected[i, j] = sum(hat[2][i, k] * hat[1][k, l] * hat[0][l, j] for k in range(3) for l in range(3))
    torch.testing.assert_close(rollout_from_attentions(blocks)[0], expected)
    assert not torch.allclose(rollout_from_attentions(blocks[::-1])[0], expected, atol=1e-3)  # order matters


def test_head_fusion_and_discard_ratio():
    probs = torch.tensor([[[[0.1, 0.9], [0.5, 0.5]], [[0.7, 0.3], [0.2, 0.8]]]])  # (1, heads=2, 2, 2)
    torch.testing.assert_close(fuse_heads(probs, "mean"), torch.tensor([[[0.4, 0.6], [0.35, 0.65]]]))
    torch.testing.assert_close(fuse_heads(probs, "max"), torch.tensor([[[0.7, 0.9], [0.5, 0.8]]]))
    torch.testing.assert_close(fuse_heads(probs, "min"), torch.tensor([[[0.1, 0.3], [0.2, 0.5]]]))
    with pytest.raises(ValueError, match="head_fusion"):
        fuse_heads(probs, "median")
    # discard_ratio 0.5 zeroes the two smallest of [[0.4, 0.6], [0.35, 0.65]]: [[0, 0.6], [0, 0.65]],
    # then + I and rows renormalised: [[1/1.6, 0.6/1.6], [0, 1]].
    rolled = rollout_from_attentions([fuse_heads(probs)], discard_ratio=0.5)
    torch.testing.assert_close(rolled, torch.tensor([[[1 / 1.6, 0.6 / 1.6], [0.0, 1.0]]]))
    with pytest.raises(ValueError, match="discard_ratio"):
        rollout_from_attentions([fuse_heads(probs)], discard_ratio=1.0)


def test_rollout_of_the_real_models(models, images):
    for head, model in models.items():
        maps = attention_rollout(model, images)
        assert maps.shape == (3, 8, 8) and (maps >= 0).all()
        total = maps.sum(dim=(-2, -1))
        if head == "mean":  # every column is a patch: the rows of R sum to 1
            torch.testing.assert_close(total, torch.ones(3))
        else:  # what the class token keeps of itself is missing
            assert ((total > 0) & (total < 1)).all()
        assert count_hooks(model) == 0


# --------------------------------------------------------------------------- #
# Training: one recipe, both heads >= 90% on the test split
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def trained():
    """Both heads trained once per module with the notebook's recipe (cached in the session's tmp folder)."""
    train, test = vit_splits()
    models = {head: train_small_vit(head, train, progress=False) for head in HEADS}
    return models, test


@pytest.mark.parametrize("head", HEADS)
def test_both_heads_learn_the_shapes(trained, head):
    models, test = trained
    model, history = models[head]
    assert accuracy(model, test) >= 0.9
    assert history.loss[-1] < history.loss[0]


# --------------------------------------------------------------------------- #
# Grad-CAM on token layers (cam_helpers.tokens), and the peers
# --------------------------------------------------------------------------- #

gradcam = pytest.importorskip("cam_helpers.gradcam")


def gradient_norm(model: SmallViT, images: torch.Tensor, layer: str) -> float:
    """|| d logit_c / d (patch tokens of layer) || for each image's predicted class c."""
    logits, captured = gradcam.forward_for_gradcam(model, images, [layer])
    scores = logits.gather(1, logits.argmax(dim=1, keepdim=True))  # (B, 1)
    with torch.enable_grad():
        gradients = gradcam.score_gradients(captured[layer], scores)  # (B, 1, D, 8, 8)
    assert gradients.shape == (images.shape[0], 1, VIT_SETTINGS["dim"], 8, 8)
    return gradients.norm().item()


def test_the_last_block_of_a_class_token_vit_gets_exactly_zero_gradient(models, images):
    assert gradient_norm(models["class_token"], images, LAST) == 0.0
    assert gradient_norm(models["class_token"], images, BEFORE_LAST) > 0
    assert gradient_norm(models["mean"], images, LAST) > 0
    with pytest.warns(UserWarning, match="exactly 0"):
        blank = gradcam.grad_cam(models["class_token"], images, LAST)
    assert blank.maps.shape == (3, 1, 8, 8) and not blank.maps.any()
    assert count_hooks(models["class_token"]) == 0


def test_grad_cam_at_the_cam_layer_is_relu_cam_over_hw(models, images):
    """The GAP identity through the token API: at "norm" of the mean head, Grad-CAM = ReLU(CAM) / (h w)."""
    model = models["mean"]
    result = gradcam.grad_cam(model, images, model.cam_layer, classes=[2])
    assert result.features.shape == (3, VIT_SETTINGS["dim"], 8, 8) and result.tokens.prefix == 0
    cam = class_activation_maps(result.features, model.fc.weight, [2])  # (B, 1, 8, 8)
    torch.testing.assert_close(result.maps, cam.clamp_min(0) / 64, atol=1e-6, rtol=1e-4)


def reshape_transform(prefix: int):
    """The peers' documented ViT reshape, written out: drop the class token, (B, h*w, D) -> (B, D, h, w)."""

    def transform(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, prefix:, :]
        return patches.reshape(tokens.shape[0], 8, 8, tokens.shape[2]).permute(0, 3, 1, 2)

    return transform


PEER_CLASSES = [1, 3, 0]  # one class per image
PEER_BLOCKS = ["blocks.0", BEFORE_LAST, LAST]  # the first, the one before the last, the last


def relu_normalized(maps: torch.Tensor) -> torch.Tensor:
    return normalize_maps(maps.detach().float().clamp_min(0))


def ours(model: SmallViT, images: torch.Tensor, layer: str) -> torch.Tensor:
    classes = torch.tensor(PEER_CLASSES)[:, None]
    blank = model.prefix and layer == LAST  # the class-token head's last block: warned about
    with pytest.warns(UserWarning, match="exactly 0") if blank else contextlib.nullcontext():
        return gradcam.grad_cam(model, images, layer, classes=classes).maps  # (B, 1, 8, 8)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("layer", PEER_BLOCKS)
def test_pytorch_grad_cam_agrees_on_token_layers(models, images, head, layer):
    """pytorch-grad-cam: ReLU, min-max (x - min) / (max + 1e-7), cv2 bilinear resize to the input, then
    min-max again (its aggregate_multi_layers); the same steps on ours."""
    peers = pytest.importorskip("pytorch_grad_cam", reason="grad-cam not installed: pip install -e '.[test]'")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = models[head]
    module = dict(model.named_modules())[layer]
    with peers.GradCAM(model=model, target_layers=[module], reshape_transform=reshape_transform(model.prefix)) as cam:
        theirs = torch.from_numpy(cam(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in PEER_CLASSES]))
    model.zero_grad(set_to_none=True)  # it calls loss.backward(): parameters get a .grad
    mine = normalize_maps(upsample_maps(relu_normalized(ours(model, images, layer)), 64))[:, 0]  # (B, 64, 64)
    assert theirs.shape == mine.shape == (3, 64, 64)
    assert (theirs - mine).abs().max() < 1e-4
    if head == "class_token" and layer == LAST:
        assert not theirs.any()  # it, too, gives nothing there, silently
    else:
        assert theirs.amax(dim=(-2, -1)).max() > 0.99  # not blank (an image whose evidence is all negative is)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("layer", PEER_BLOCKS)
def test_torchcam_agrees_on_token_layers(models, images, head, layer):
    """torchcam (0.5) takes a ``reshape_transform`` for its hooked activations and gradients."""
    methods = pytest.importorskip("torchcam.methods", reason="torchcam not installed: pip install -e '.[test]'")
    model = models[head]
    with methods.GradCAM(model, target_layer=layer, input_shape=(3, 64, 64),
                         reshape_transform=reshape_transform(model.prefix)) as extractor:
        scores = model(images)
        theirs = extractor(class_idx=PEER_CLASSES, scores=scores, normalized=False)[0]  # (B, 8, 8), ReLU'd
    mine = ours(model, images, layer)[:, 0]
    assert (relu_normalized(theirs) - relu_normalized(mine)).abs().max() < 1e-4
    if head == "class_token" and layer == LAST:
        assert not theirs.any()
    else:
        assert theirs.flatten(1).amax(dim=1).max() > 0
