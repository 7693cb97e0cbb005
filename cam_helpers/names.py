"""One "did you mean" helper for every unknown name a learner types: a layer, a class, a sample, a model."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, choices: Iterable[str], *, n: int = 5, cutoff: float = 0.5) -> str:
    """A sentence naming the choices closest to ``name`` (" Did you mean 'a', 'b'?"), or "" if none is close.

    Matching ignores case; the choices are quoted as given. Substring matches
    ("retriever" -> "golden retriever") count too, after the close spellings.
    """
    choices = list(dict.fromkeys(choices))
    by_lower = {choice.lower(): choice for choice in choices}
    wanted = str(name).strip().lower()
    close = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=cutoff)
    close += [lower for lower in by_lower if wanted and wanted in lower and lower not in close]
    names = [by_lower[lower] for lower in close[:n]]
    return f" Did you mean {', '.join(repr(x) for x in names)}?" if names else ""
