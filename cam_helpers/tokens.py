"""Where a Vision Transformer keeps its "feature map": patch tokens read as a grid.

A CNN layer gives features (B, C, h, w). A transformer block gives tokens (B, N, D): one
D-dimensional vector per image patch, in reading order (row by row), often after p extra
tokens such as a class token. With N - p = h * w patches, the patch tokens ARE a feature
map with D channels; only the layout differs:

    tokens (B, N, D) -> drop the first p tokens -> (B, h*w, D) -> transpose -> (B, D, h*w)
                     -> reshape -> maps (B, D, h, w)

This is what pytorch-grad-cam's ``reshape_transform`` and torchcam's token support do by hand.
Here it is written once, as :class:`TokenGrid`, and used by :func:`cam_helpers.hooks.capture`
(and so by Grad-CAM and its family, :mod:`cam_helpers.gradcam`) inside the forward hook: the
next layers see tokens rebuilt from the map, so the gradient of a score with respect to the
map is exactly the gradient with respect to the patch tokens.

    grid = TokenGrid()                      # infer: N = 197 -> 1 class token + 14 x 14 patches
    extra, maps = grid.split(tokens)        # (B, 1, 768), (B, 768, 14, 14)
    tokens_again = grid.join(extra, maps)   # (B, 197, 768), equal to tokens
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["TokenGrid", "as_token_grid"]


@dataclass(frozen=True)
class TokenGrid:
    """How the tokens (B, N, D) of a transformer layer are read as a feature map (B, D, h, w).

    Attributes:
        prefix: how many tokens come before the patches (1 for a class token, more with
            "register" tokens); None: inferred from N (0 when N is a square number, 1 when N - 1 is).
        grid: (h, w) of the patch grid; None: the square root of the number of patches.
    """

    prefix: int | None = None
    grid: tuple[int, int] | None = None

    def layout(self, num_tokens: int, layer: str = "this layer") -> tuple[int, int, int]:
        """(p, h, w) for a layer with ``num_tokens`` tokens, or a ValueError that says what would work."""
        if self.prefix is not None and self.prefix < 0:
            raise ValueError(f"TokenGrid.prefix must be >= 0 (the number of non-patch tokens); got {self.prefix}")
        if self.grid is not None:
            h, w = self.grid
            prefix = num_tokens - h * w if self.prefix is None else self.prefix
            # Without a stated prefix only "no extra token" or "one class token" is accepted: a wrong
            # grid would otherwise be read silently as many extra tokens.
            allowed = (0, 1) if self.prefix is None else (self.prefix,)
            if prefix not in allowed or prefix + h * w != num_tokens:
                raise ValueError(
                    f"{layer} gives {num_tokens} tokens, which is not "
                    f"{' or '.join(map(str, allowed))} extra token(s) + a {h} x {w} grid of patches. Give the "
                    "grid the model uses, e.g. tokens=TokenGrid(prefix=1, grid=(14, 14)) for 197 tokens "
                    "(state prefix= for a model with more extra tokens, such as register tokens)."
                )
            return prefix, h, w
        candidates = [self.prefix] if self.prefix is not None else [0, 1]
        for prefix in candidates:
            side = math.isqrt(max(num_tokens - prefix, 0))
            if side > 0 and side * side == num_tokens - prefix:
                return prefix, side, side
        tried = " or ".join(f"{num_tokens} - {p} = {num_tokens - p}" for p in candidates)
        raise ValueError(
            f"{layer} gives {num_tokens} tokens, and {tried} is not a square number of patches, so the "
            "patch grid cannot be guessed. Say it: tokens=TokenGrid(prefix=..., grid=(h, w)) with "
            "prefix + h * w = the number of tokens (prefix = 1 for a class token)."
        )

    def split(self, tokens: torch.Tensor, layer: str = "this layer") -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N, D) -> (the extra tokens (B, p, D), the patch tokens as maps (B, D, h, w))."""
        if tokens.dim() != 3:
            raise ValueError(f"{layer}: tokens must be (B, N, D); got {tuple(tokens.shape)}")
        batch, num_tokens, dim = tokens.shape
        prefix, h, w = self.layout(num_tokens, layer)
        patches = tokens[:, prefix:, :]  # (B, h*w, D), row by row
        maps = patches.transpose(1, 2).reshape(batch, dim, h, w)  # (B, D, h, w)
        return tokens[:, :prefix, :], maps

    def join(self, extra: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`split`: (B, p, D) and (B, D, h, w) -> tokens (B, p + h*w, D)."""
        patches = maps.flatten(2).transpose(1, 2)  # (B, h*w, D)
        return torch.cat([extra, patches], dim=1)  # (B, N, D)


def as_token_grid(tokens: TokenGrid | tuple[int, int] | None) -> TokenGrid:
    """A ``tokens=`` argument as a :class:`TokenGrid`: None infers the layout, (h, w) gives the grid."""
    if tokens is None:
        return TokenGrid()
    if isinstance(tokens, TokenGrid):
        return tokens
    if isinstance(tokens, (tuple, list)) and len(tokens) == 2 and all(isinstance(v, int) for v in tokens):
        return TokenGrid(grid=(int(tokens[0]), int(tokens[1])))
    raise ValueError(
        f"tokens must be None (infer the patch grid), an (h, w) tuple or a TokenGrid; got {tokens!r}"
    )
