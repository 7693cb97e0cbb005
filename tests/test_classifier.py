"""cam_helpers/classifier.py: resolve_classes, the one place where a class request becomes indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cam_helpers.classifier import resolve_classes

NAMES = ["tabby", "espresso", "golden retriever", "tiger cat"]


def test_every_form_of_a_request_gives_the_same_b_by_n_indices():
    expected = [[1, 3], [1, 3]]
    for request in ([1, 3], ["Espresso", "tiger cat"], [np.int64(1), np.int32(3)], torch.tensor([1, 3]),
                    [[1, 3], [1, 3]], np.array([1, 3])):
        index = resolve_classes(request, 2, 4, class_names=NAMES)
        assert index.dtype == torch.long and index.tolist() == expected, request
    assert resolve_classes("tabby", 3, 4, class_names=NAMES).tolist() == [[0], [0], [0]]
    assert resolve_classes([[0], [2]], 2, 4).tolist() == [[0], [2]]  # one list per image


def test_none_means_the_top_k_of_the_logits_or_later():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 4.0]])
    assert resolve_classes(None, 2, 4, logits=logits, top_k=2).tolist() == [[1, 2], [0, 3]]
    assert resolve_classes(None, 2, 4) is None  # decided after the forward pass
    with pytest.raises(ValueError, match=r"top_k must lie in 1\.\.4"):
        resolve_classes(None, 2, 4, logits=logits, top_k=5)


def test_bad_requests_name_the_class_the_range_and_what_would_work():
    with pytest.raises(ValueError, match=r"'espreso' is not a class of resnet18\. Did you mean 'espresso'"):
        resolve_classes("espreso", 1, 4, class_names=NAMES, model_name="resnet18")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        resolve_classes([1, 4], 1, 4, class_names=NAMES)
    with pytest.raises(ValueError, match=r"0\.\.3"):
        resolve_classes(torch.tensor([[-1]]), 1, 4)
    with pytest.raises(ValueError, match="integers"):
        resolve_classes(torch.tensor([1.0]), 1, 4)
    with pytest.raises(ValueError, match=r"shape \(2, n\)"):
        resolve_classes([[1], [2], [3]], 2, 4)
    with pytest.raises(ValueError, match="1.5"):  # a float is not a class index
        resolve_classes(1.5, 1, 4)
    # A plain nn.Module has no names: the error says to pass indices, or how to give it names.
    with pytest.raises(ValueError, match=r"give class indices, or wrap it: Classifier\.from_model"):
        resolve_classes("tabby", 1, 4)
