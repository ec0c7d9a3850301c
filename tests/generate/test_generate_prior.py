"""The shape prior and factor streams, without the body model (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.generate.human import FACTORS, GenerateOptions, factor_rng, shape_strata
from backend.generate.prior import (
    ANNY_AGE_ANCHORS,
    AGE_YEARS_ANCHORS,
    PriorError,
    height_at_quantile,
    height_distribution,
    parse_range,
    sample_anny_shape,
    sample_betas,
    years_to_anny_age,
)


def test_age_anchors_are_annys_own_calibration():
    torch = pytest.importorskip("torch")
    from anny.paths import get_anny_root_dir

    for name in ("boys", "girls"):
        d = torch.load(get_anny_root_dir() / "data" / "shape_calibration" / f"{name}.pth", weights_only=True)
        m = d["morphological_age_mapping"]
        np.testing.assert_allclose(m["anny_age_anchors"].numpy(), ANNY_AGE_ANCHORS, atol=1e-9)
        np.testing.assert_allclose(m["morphological_age_anchors"].numpy(), AGE_YEARS_ANCHORS, atol=1e-9)
    assert years_to_anny_age(18.0) == pytest.approx(0.77)


def test_ranges_and_factor_names_are_checked():
    assert parse_range("18:70", "--age", (1, 90)) == (18.0, 70.0)
    with pytest.raises(PriorError, match="impossible"):
        parse_range("90:10", "--age", (1, 90))
    with pytest.raises(PriorError, match="outside"):
        parse_range("10:95", "--age", (1, 90))
    with pytest.raises(PriorError, match="not a range"):
        parse_range("old", "--age", (1, 90))
    with pytest.raises(PriorError, match="unknown factor"):
        GenerateOptions(fix=("hair",)).check()
    with pytest.raises(PriorError, match="impossible"):
        GenerateOptions(age_range=(90.0, 10.0)).check()


def _batch(seed: int, n: int, ages=(18.0, 70.0)):
    strata = shape_strata(seed, n)
    return [sample_anny_shape(factor_rng(seed, i, "shape"), ages, strata[i]) for i in range(n)]


def test_heights_follow_the_tables_and_span_the_prior():
    draws = [d for s in range(60) for d in _batch(s, 8)]
    men = np.array([d.height_m for d in draws if d.sex == "male"])
    women = np.array([d.height_m for d in draws if d.sex == "female"])
    assert len(men) == len(women)  # a batch is man-woman pairs
    # Means within 1.5 cm of the adult tables (171 / 159 cm, minus a little age-related loss).
    assert abs(men.mean() - 1.705) < 0.015 and abs(women.mean() - 1.585) < 0.015
    assert 0.07 < men.std() < 0.095 and 0.065 < women.std() < 0.09
    ages = np.array([d.age_years for d in draws])
    assert ages.min() >= 18 and ages.max() <= 70 and abs(ages.mean() - 44) < 2
    spreads = np.array([np.ptp([d.height_m for d in _batch(s, 8)]) for s in range(200)])
    print(f"8-adult height spread over 200 seeds: median {np.median(spreads):.3f} m, min {spreads.min():.3f}, "
          f"max {spreads.max():.3f}")
    assert spreads[:20].min() >= 0.3 and spreads.min() >= 0.3
    for d in draws:
        assert set(d.phenotype) == {"gender", "age", "muscle", "weight", "height", "proportions"}
        assert all(0.0 <= v <= 1.0 for v in d.phenotype.values())
    # gender ~ Beta(12, 2) towards the sex's end: on the wrong side of 0.5 with probability 0.2 %.
    assert np.mean([(d.phenotype["gender"] > 0.5) == (d.sex == "female") for d in draws]) > 0.99


def test_each_human_of_a_batch_is_still_the_prior():
    """Human 2 of many 8-batches: sex 1/2, height quantile uniform, age uniform, quantile independent of age."""
    from scipy.stats import kstest, pearsonr

    d = [_batch(s, 8)[2] for s in range(400)]
    q, years = np.array([x.quantile for x in d]), np.array([x.age_years for x in d])
    assert 0.42 < np.mean([x.sex == "female" for x in d]) < 0.58
    assert kstest(q, "uniform").pvalue > 0.01 and kstest((years - 18) / 52, "uniform").pvalue > 0.01
    assert abs(pearsonr(q, years)[0]) < 0.15
    odd = _batch(1, 7)
    assert sum(x.sex == "female" for x in odd) in (3, 4)


def test_children_are_shorter_and_quantiles_map_to_heights():
    kids = [d.height_m for s in range(10) for d in _batch(s, 8, (5.0, 6.0))]
    assert 1.0 < np.mean(kids) < 1.2
    mean_m, sd_m = height_distribution(30.0, False)
    assert height_at_quantile(30.0, False, 0.5) == pytest.approx(mean_m)
    assert height_at_quantile(30.0, False, 1.0) == pytest.approx(mean_m + 2.5 * sd_m)
    assert height_at_quantile(30.0, True, 0.0) == pytest.approx(height_distribution(30.0, True)[0] - 2.5 * 0.079)


def test_betas_truncated():
    b = sample_betas(np.random.default_rng(0), 10_000)
    assert np.abs(b).max() <= 2.0 and abs(b.std() - 0.88) < 0.03  # a unit normal cut at +-2 sd


def test_factor_streams_are_independent_and_reproducible():
    a = [factor_rng(3, 5, f).random() for f in FACTORS]
    assert a == [factor_rng(3, 5, f).random() for f in FACTORS]
    assert len(set(a)) == 4 and factor_rng(3, 6, "shape").random() != a[0]
