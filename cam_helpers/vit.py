"""A small Vision Transformer for the synthetic shapes, and attention rollout.

The model is as small as a ViT can be and still be one (Dosovitskiy et al. 2021)::

    images (B, 3, 64, 64)
      -> patch_embed                                      -> (B, D, 8, 8)  one vector per 8x8 patch
      -> flatten the grid                                 -> (B, 64, D)    N = 64 patch tokens
      -> [class token in front, head="class_token" only]  -> (B, 65, D)
      -> + position embedding                             -> (B, N, D)
      -> blocks.0 ... blocks.{depth-1}                    -> (B, N, D)    each: x + attn(ln(x)), x + mlp(ln(x))
      -> norm (LayerNorm per token)                       -> (B, N, D)
      -> head="mean":        mean of the patch tokens     -> (B, D) -> fc -> (B, K)   a GAP network
         head="class_token": the class token alone        -> (B, D) -> fc -> (B, K)   not one

``patch_embed`` is ViT's own (``stem="patch"``: one Conv2d with kernel = stride = 8, "cut into patches,
flatten, Linear") or a small convolutional stem (``stem="conv"``: three 3x3 stride-2 convs, then a 1x1 conv
to D; the ViT paper's "hybrid", Xiao et al. 2021). The notebook's recipe uses the conv stem: on a few
thousand 64x64 images and a CPU budget of seconds, the plain patch embedding stays at chance (a ViT has no
built-in notion of neighbouring pixels and needs far more data to learn it); everything after the stem,
where the tokens and their maps live, is the same.

With ``head="mean"`` the head is the GAP head of :class:`cam_helpers.train.GAPNet` with the 8x8 grid of
tokens in place of the 8x8 feature map, so CAM is exact at ``norm``'s output (``SmallViT.cam_layer``):
logit_c = mean_xy M_c(x, y) + b_c with M_c(x, y) = w_c . norm(tokens)[x, y].
With ``head="class_token"`` only token 0 reaches ``fc``: the last block's patch tokens never reach the
output, so their gradient is exactly zero (Grad-CAM at ``blocks.{last}`` gives an empty map).

Attention is written out by hand (no fused kernel) so that each block's attention probabilities
(B, heads, N, N) pass through an ``nn.Identity`` named ``blocks.<i>.attn.probs``: record them with
:func:`cam_helpers.hooks.capture`, as :func:`attention_rollout` does.

One recipe trains both heads (:func:`train_small_vit`, constants ``VIT_SETTINGS`` and ``VIT_TRAINING``),
so notebook 09 and the tests train the same weights, cached by :func:`cam_helpers.train.train_model`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .hooks import capture
from .synthetic import SyntheticShapes, make_splits
from .train import TrainingHistory, seeded, train_model

__all__ = [
    "SmallViT", "Attention", "TransformerBlock", "attention_rollout", "fuse_heads", "rollout_from_attentions",
    "train_small_vit", "vit_splits", "VIT_SETTINGS", "VIT_TRAINING", "VIT_DATA",
]

Head = Literal["mean", "class_token"]

# The model of notebook 09 and the tests: 8x8 patch grid, D = 64, 3 blocks of 4 heads, conv stem.
VIT_SETTINGS = dict(image_size=64, patch_size=8, dim=64, depth=3, heads=4, mlp_ratio=2, stem="conv")
# train_model's settings for both heads (Adam, constant learning rate). A search on this data, test accuracy
# per epoch (1 CPU thread): 4000 images, lr 1e-3 -> 0.27, 0.43-0.49, 0.82-0.87, 0.934, 0.94-0.97 for the
# two heads; 2000 images overfit (0.83-0.90 after 6 epochs); lr 3e-3 stays at chance longer; with
# stem="patch" the loss stays at ln 4 (chance) for 10 epochs.
VIT_TRAINING = dict(epochs=4, batch_size=64, lr=1e-3)
# make_splits's settings: more images than notebook 06's CNN (1500), since the transformer overfits
# fewer; drawing them takes about a second.
VIT_DATA = dict(seed=0, num_train=4000, num_test=500)


class Attention(nn.Module):
    """Multi-head self-attention, written out so the attention probabilities can be recorded.

    Shapes: tokens (B, N, D) -> q, k, v each (B, heads, N, D/heads) -> probs (B, heads, N, N), each row
    sums to 1 -> mixed values (B, heads, N, D/heads) -> (B, N, D) -> ``proj`` -> (B, N, D).
    ``probs`` is an ``nn.Identity``: a hook on it (``capture(model, "blocks.0.attn.probs")``) sees
    the probabilities; row i says how much token i reads from each token j.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5  # 1 / sqrt(d_head): keeps the softmax out of saturation
        self.qkv = nn.Linear(dim, 3 * dim)
        self.probs = nn.Identity()  # the attention probabilities pass through here (for hooks)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n, d = tokens.shape
        qkv = self.qkv(tokens).reshape(b, n, 3, self.heads, d // self.heads)  # (B, N, 3, heads, d_head)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, d_head)
        scores = query @ key.transpose(-2, -1) * self.scale  # (B, heads, N, N)
        probs = self.probs(scores.softmax(dim=-1))  # (B, heads, N, N), rows sum to 1
        mixed = probs @ value  # (B, heads, N, d_head)
        return self.proj(mixed.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class TransformerBlock(nn.Module):
    """A pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)); (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens + self.attn(self.norm1(tokens))  # (B, N, D)
        return tokens + self.mlp(self.norm2(tokens))  # (B, N, D)


class SmallViT(nn.Module):
    """A small Vision Transformer whose head is either a GAP head or a class-token head.

    Args:
        num_classes: K.
        head: ``"mean"``: fc on the mean of the patch tokens (a GAP network, CAM exact at ``norm``);
            ``"class_token"``: a learned class token goes in front of the patch tokens, and fc reads it
            alone (as torchvision's ``vit_b_16`` does).
        image_size, patch_size: the grid is (image_size / patch_size)^2 patches, 8x8 = 64 by default.
        dim: D, the length of every token; depth: the number of blocks; heads: attention heads per block;
        mlp_ratio: the MLP's hidden width is mlp_ratio * D.
        stem: how ``patch_embed`` makes the (B, D, h, w) grid: ``"patch"`` (ViT's strided Conv2d) or
            ``"conv"`` (a small convolutional stem, which learns from far fewer images; see the module's text).
        seed: if given, the initial weights depend only on it (the global random state is left untouched).

    Attributes:
        grid: (h, w) of the patch grid; prefix: tokens before the patch tokens (0 or 1);
        cam_layer: ``"norm"`` for the mean head, the layer whose (B, h*w, D) output the head averages,
            where CAM is exact; None for the class-token head, which has no such layer.

    Shapes: (B, 3, H, W) -> tokens (B, prefix + h*w, D) through every block and ``norm`` -> (B, K).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        head: Head = "mean",
        image_size: int = 64,
        patch_size: int = 8,
        dim: int = 64,
        depth: int = 3,
        heads: int = 4,
        mlp_ratio: float = 2,
        stem: str = "conv",
        seed: int | None = 0,
    ):
        super().__init__()
        if head not in ("mean", "class_token"):
            raise ValueError(f"head must be 'mean' or 'class_token'; got {head!r}")
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
        self.head = head
        side = image_size // patch_size
        self.grid = (side, side)
        self.prefix = 1 if head == "class_token" else 0
        self.cam_layer = "norm" if head == "mean" else None
        with seeded(seed):  # the initial weights depend only on the seed
            self.patch_embed = _patch_embedding(stem, dim, patch_size)
            self.class_token = nn.Parameter(0.02 * torch.randn(1, 1, dim)) if self.prefix else None
            self.position = nn.Parameter(0.02 * torch.randn(1, self.prefix + side * side, dim))
            self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
            self.norm = nn.LayerNorm(dim)
            self.fc = nn.Linear(dim, num_classes)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The input tokens of ``blocks.0``: (B, 3, H, W) -> (B, prefix + h*w, D), position added."""
        patches = self.patch_embed(images)  # (B, D, h, w)
        tokens = patches.flatten(2).transpose(1, 2)  # (B, h*w, D), row by row over the grid
        if self.class_token is not None:
            class_token = self.class_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
            tokens = torch.cat([class_token, tokens], dim=1)  # (B, 1 + h*w, D)
        return tokens + self.position

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.tokens(images)  # (B, N, D)
        for block in self.blocks:
            tokens = block(tokens)  # (B, N, D)
        tokens = self.norm(tokens)  # (B, N, D)
        if self.head == "mean":
            pooled = tokens.mean(dim=1)  # (B, D): global average pooling over the patch grid
        else:
            pooled = tokens[:, 0]  # (B, D): the class token; the patch tokens stop here
        return self.fc(pooled)  # (B, K)


def _patch_embedding(stem: str, dim: int, patch_size: int) -> nn.Module:
    """(B, 3, H, W) -> (B, D, H/p, W/p), p = patch_size.

    "patch": ViT's own, one Conv2d with kernel = stride = p: cut into p x p patches, flatten each, Linear.
    "conv": a convolutional stem (Xiao et al. 2021, "Early convolutions help transformers see better";
    the ViT paper's "hybrid"): 3x3 stride-2 convs halve the side log2(p) times, then a 1x1 conv gives D.
    """
    if stem == "patch":
        return nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
    if stem != "conv":
        raise ValueError(f"stem must be 'patch' or 'conv'; got {stem!r}")
    halvings = patch_size.bit_length() - 1
    if 2**halvings != patch_size:
        raise ValueError(f"the conv stem needs a power-of-two patch_size; got {patch_size}")
    widths = [3] + [min(dim, 16 * 2**i) for i in range(halvings)]  # 16, 32, 64 channels
    layers = []
    for in_channels, out_channels in zip(widths, widths[1:]):
        layers += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(widths[-1], dim, kernel_size=1))


# ---------------------------------------------------------------- training


def vit_splits(**options) -> tuple[SyntheticShapes, SyntheticShapes]:
    """(train, test) of :func:`cam_helpers.synthetic.make_splits` with ``VIT_DATA`` (``options`` override)."""
    return make_splits(**{**VIT_DATA, **options})


def train_small_vit(
    head: Head,
    train: SyntheticShapes | None = None,
    *,
    seed: int = 0,
    progress: bool = True,
    cache: bool = True,
    **settings,
) -> tuple[SmallViT, TrainingHistory]:
    """Build ``SmallViT(4, head=head, seed=seed, **VIT_SETTINGS)`` and train it with ``VIT_TRAINING``.

    ``train``: the training split (default ``vit_splits()[0]``); ``settings`` override entries of
    ``VIT_SETTINGS`` or ``VIT_TRAINING``. Returns (model in eval mode, history); a second identical
    call loads the cached weights (:func:`cam_helpers.train.train_model`).

    Measured with ``vit_splits()`` (4000 training images, 500 test images): test accuracy 0.942 (mean head)
    and 0.950 (class-token head), 132,756 and 132,884 parameters.
    """
    if train is None:
        train = vit_splits()[0]
    model_settings = {**VIT_SETTINGS, **{k: v for k, v in settings.items() if k in VIT_SETTINGS}}
    training = {**VIT_TRAINING, **{k: v for k, v in settings.items() if k in VIT_TRAINING}}
    unknown = set(settings) - set(VIT_SETTINGS) - set(VIT_TRAINING)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; choose from {[*VIT_SETTINGS, *VIT_TRAINING]}")
    model = SmallViT(len(train.class_names), head=head, seed=seed, **model_settings)
    history = train_model(model, train, seed=seed, progress=progress, cache=cache, **training)
    return model, history


# ---------------------------------------------------------------- attention rollout


def fuse_heads(probs: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """One attention matrix per image from all heads: (B, heads, N, N) -> (B, N, N) by mean, max or min."""
    if head_fusion == "mean":
        return probs.mean(dim=1)
    if head_fusion == "max":
        return probs.amax(dim=1)
    if head_fusion == "min":
        return probs.amin(dim=1)
    raise ValueError(f"head_fusion must be 'mean', 'max' or 'min'; got {head_fusion!r}")


def rollout_from_attentions(attentions: list[torch.Tensor], discard_ratio: float = 0.0) -> torch.Tensor:
    """Abnar & Zuidema's rollout of per-block attention matrices, first block first.

    Each (B, N, N) matrix A_l (heads already fused) becomes Â_l = (A_l + I) / row sums: the identity
    stands for the residual connection, which carries every token on unchanged. The rollout is
    Â_L ... Â_2 Â_1 (B, N, N): row i says how much output token i draws on each input token.
    ``discard_ratio``: before adding I, set that fraction of each image's smallest entries to 0
    (jacobgil's vit-explain trick against a diffuse map); 0 keeps everything (the paper's method).
    """
    if not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio must lie in [0, 1); got {discard_ratio}")
    if not attentions:
        raise ValueError("rollout needs the attention of at least one block")
    rollout = None
    for attention in attentions:
        b, n, _ = attention.shape
        if discard_ratio > 0:
            flat = attention.reshape(b, n * n)
            drop = flat.topk(int(n * n * discard_ratio), dim=1, largest=False).indices  # (B, n_drop)
            attention = flat.scatter(1, drop, 0.0).reshape(b, n, n)
        attention = attention + torch.eye(n, dtype=attention.dtype, device=attention.device)  # residual
        attention = attention / attention.sum(dim=-1, keepdim=True)  # rows sum to 1 again
        rollout = attention if rollout is None else attention @ rollout  # later block on the left
    return rollout


@torch.no_grad()
def attention_rollout(
    model: SmallViT,
    images: torch.Tensor,
    *,
    discard_ratio: float = 0.0,
    head_fusion: str = "mean",
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of a :class:`SmallViT`: (B, 3, H, W) -> maps (B, h, w).

    Records every block's ``attn.probs`` (B, heads, N, N), fuses the heads (:func:`fuse_heads`) and
    rolls them out (:func:`rollout_from_attentions`) to R (B, N, N). The map is the row of what reaches
    the head:

    - class-token model: row 0 (the class token, the only token ``fc`` reads);
    - mean-pooled model: the mean of the patch rows, since ``fc`` reads the mean of the patch tokens
      (the mean of rows is the rollout of the mean token, because rollout is linear in the row);

    restricted to the patch columns (the class token's own column dropped) and reshaped to the grid.
    The rows of R sum to 1, so a mean-pooled map sums to 1; a class-token map sums to 1 minus what the
    class token keeps of itself. Rollout ignores the class: the same map for every class.
    """
    names = [f"blocks.{i}.attn.probs" for i in range(len(model.blocks))]
    with capture(model, names) as captured:
        model(images)
    attentions = [fuse_heads(captured[name], head_fusion) for name in names]  # each (B, N, N)
    rollout = rollout_from_attentions(attentions, discard_ratio)  # (B, N, N)
    p = model.prefix
    if model.head == "class_token":
        row = rollout[:, 0, p:]  # (B, h*w)
    else:
        row = rollout[:, p:, p:].mean(dim=1)  # (B, h*w)
    return row.reshape(-1, *model.grid)  # (B, h, w)
