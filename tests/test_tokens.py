"""cam_helpers/tokens.py: reading a transformer's tokens (B, N, D) as a feature map (B, D, h, w)."""

from __future__ import annotations

import pytest
import torch

from cam_helpers.tokens import TokenGrid, as_token_grid


def numbered_tokens(batch: int, prefix: int, h: int, w: int, dim: int) -> torch.Tensor:
    """Tokens whose values say where they come from: token t, channel d of image b holds 1000 b + 10 t + d."""
    b = torch.arange(batch)[:, None, None] * 1000
    t = torch.arange(prefix + h * w)[None, :, None] * 10
    d = torch.arange(dim)[None, None, :]
    return (b + t + d).float()  # (B, N, D)


def test_split_puts_patch_tokens_on_the_grid_row_by_row():
    tokens = numbered_tokens(2, 1, 2, 3, 4)  # 1 class token + 2 x 3 patches, D = 4
    extra, maps = TokenGrid(grid=(2, 3)).split(tokens)
    assert extra.shape == (2, 1, 4) and maps.shape == (2, 4, 2, 3)
    assert torch.equal(extra[:, 0], tokens[:, 0])
    # Patch token 1 + 3 * y + x (after the class token) lands at (y, x), channel d at channel d.
    for y in range(2):
        for x in range(3):
            assert torch.equal(maps[:, :, y, x], tokens[:, 1 + 3 * y + x, :])


def test_join_undoes_split():
    tokens = torch.randn(3, 50, 8)  # 1 + 7 x 7
    grid = TokenGrid()
    assert torch.equal(grid.join(*grid.split(tokens)), tokens)


@pytest.mark.parametrize(
    "num_tokens, grid, expected",
    [(64, TokenGrid(), (0, 8, 8)), (65, TokenGrid(), (1, 8, 8)), (197, TokenGrid(), (1, 14, 14)),
     (13, TokenGrid(grid=(3, 4)), (1, 3, 4)), (12, TokenGrid(grid=(3, 4)), (0, 3, 4)),
     (20, TokenGrid(prefix=4, grid=(4, 4)), (4, 4, 4)), (68, TokenGrid(prefix=4), (4, 8, 8))],
)
def test_the_layout_is_inferred_or_given(num_tokens, grid, expected):
    assert grid.layout(num_tokens) == expected


def test_a_token_count_that_fits_no_grid_gets_an_error_that_says_what_to_pass():
    with pytest.raises(ValueError, match=r"'blocks.2' gives 52 tokens.*not a square.*TokenGrid\(prefix=") as error:
        TokenGrid().layout(52, "layer 'blocks.2'")
    assert "52 - 0 = 52 or 52 - 1 = 51" in str(error.value)


def test_a_wrong_grid_is_refused_not_read_as_many_extra_tokens():
    # 17 tokens = 1 + 4 x 4; a 3 x 3 grid would leave 8 "extra" tokens and a wrong map.
    with pytest.raises(ValueError, match="17 tokens, which is not 0 or 1 extra token"):
        TokenGrid(grid=(3, 3)).layout(17)
    assert TokenGrid(prefix=8, grid=(3, 3)).layout(17) == (8, 3, 3)  # said on purpose: accepted
    with pytest.raises(ValueError, match="prefix must be >= 0"):
        TokenGrid(prefix=-1).layout(16)


def test_split_refuses_what_is_not_tokens():
    with pytest.raises(ValueError, match=r"tokens must be \(B, N, D\); got \(2, 8, 4, 4\)"):
        TokenGrid().split(torch.zeros(2, 8, 4, 4))


def test_the_tokens_argument_forms():
    assert as_token_grid(None) == TokenGrid()
    assert as_token_grid((2, 5)) == TokenGrid(grid=(2, 5))
    given = TokenGrid(prefix=1)
    assert as_token_grid(given) is given
    with pytest.raises(ValueError, match="tokens must be None"):
        as_token_grid("cls")
