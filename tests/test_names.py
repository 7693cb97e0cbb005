"""did_you_mean: one helper for unknown layers, classes, samples and models."""

from cam_helpers.names import did_you_mean


def test_close_spellings_and_substrings_are_suggested_with_their_original_case():
    assert did_you_mean("layr4", ["layer1", "layer4", "fc"]) == " Did you mean 'layer4', 'layer1'?"
    assert did_you_mean("retriever", ["golden retriever", "tabby"]) == " Did you mean 'golden retriever'?"
    assert did_you_mean("ESPRESSO", ["espresso", "cup"]) == " Did you mean 'espresso'?"


def test_nothing_close_gives_an_empty_string_and_n_limits_the_list():
    assert did_you_mean("zebra", ["layer1", "fc"]) == ""
    assert did_you_mean("a", [f"a{i}" for i in range(9)], n=2).count("'") == 4
