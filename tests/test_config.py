"""ScaPreConfig: defaults, the released recipes, validation, serialisation."""

import pytest

from scapre_core import CONFIG_PRESETS, ScaPreConfig


def test_default_is_the_large_scale_recipe():
    c = ScaPreConfig()
    assert c == ScaPreConfig.preset() == ScaPreConfig.preset("large_scale")
    assert (c.method, c.informax, c.erase_scale, c.p, c.bures_iters, c.spectral) == ("scapre", True, 2.0, 8.0, 1, True)
    assert (c.entropy_samples, c.entropy_bins, c.lam, c.technique, c.seed) == (30, 20, 0.5, "replace", 0)
    assert (c.noise_sigma, c.T, c.T_sigma, c.p_sigma) == (0.01, 0.7, 1.0, 1.0)


def test_released_commands():
    explicit = ScaPreConfig.preset("explicit")
    assert (explicit.method, explicit.informax, explicit.spectral, explicit.erase_scale) == ("scapre", False, False, 2.0)
    assert (explicit.bures_iters, explicit.entropy_samples) == (1, 20)
    base = ScaPreConfig.preset("objects_base")
    assert (base.method, base.erase_scale, base.p, base.alpha_min, base.entropy_samples, base.svd_residual) == (
        "scapre_base", 1.0, 2.0, 0.8, 20, False)
    confusable = ScaPreConfig.preset("confusable")
    assert (confusable.method, confusable.alpha_min, confusable.svd_residual, confusable.res_scale) == (
        "scapre_base", 1.0, True, None)
    assert (confusable.T_sigma, confusable.p_sigma, confusable.p) == (1.0, 1.0, 2.0)
    uce = ScaPreConfig.preset("uce")
    assert (uce.method, uce.erase_scale, uce.lam, uce.preserve_scale) == ("uce", 1.0, 0.5, None)
    assert set(CONFIG_PRESETS) == {"large_scale", "explicit", "objects_base", "confusable", "uce", "toy_tuned_uce",
                                   "uce_prior", "nullspace", "oce"}


def test_the_options_beyond_the_release_are_off_by_default():
    c = ScaPreConfig()
    assert (c.prior, c.nullspace, c.informax_negatives) == ("off", False, "empty")


def test_the_toy_tuned_preset_is_uce_with_a_fixed_preserve_weight():
    tuned, uce = ScaPreConfig.preset("toy_tuned_uce"), ScaPreConfig.preset("uce")
    assert tuned.preserve_scale == 0.5 and uce.preserve_scale is None
    assert tuned.replace(preserve_scale=None) == uce


def test_uce_prior_is_uce_with_the_general_prior():
    assert ScaPreConfig.preset("uce_prior") == ScaPreConfig.preset("uce", prior="general")


def test_overrides_and_json_round_trip():
    c = ScaPreConfig.preset("confusable", seed=7, res_scale=0.5)
    assert (c.seed, c.res_scale, c.method) == (7, 0.5, "scapre_base")
    assert ScaPreConfig.from_json(c.to_json()) == c
    assert hash(c) == hash(ScaPreConfig.from_json(c.to_json()))


@pytest.mark.parametrize("field, value, fragment", [
    ("method", "esd", "method must be one of"), ("lam", 0, "lam"), ("erase_scale", -1, "erase_scale"),
    ("bures_iters", 0, "bures_iters"), ("entropy_bins", 1, "entropy_bins"), ("alpha_min", 1.5, "alpha_min"),
    ("technique", "tensor", "not implemented"), ("seed", -1, "seed"), ("p", 0, "p must"),
    ("informax_negatives", "noise", "informax_negatives must be one of"),
])
def test_validation(field, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        ScaPreConfig(**{field: value})
    with pytest.raises(ValueError, match="unknown preset"):
        ScaPreConfig.preset("fast")
