"""Population prior for body shape: Anny phenotypes that stay plausible together, SMPL-family betas.

Anny's phenotypes are values in [0, 1] (``gender`` 0 = male, 1 = female; ``age`` 0 = 1 year ... 1 = old; ``height``,
``weight``, ``muscle``, ``proportions`` relative). The prior draws, per human:

1. age in years ~ Uniform(age range), mapped to Anny's ``age`` with :data:`ANNY_AGE_ANCHORS`;
2. sex ~ Bernoulli(0.5) and standing height in metres ~ Normal(mean(age, sex), sd(age, sex)) truncated at
   +-2.5 sd, from :data:`HEIGHT_TABLE_CM` (WHO growth references for children, NCD-RisC for adults, age-related
   loss after 50), drawn as a quantile ``q`` ~ U(0, 1) of that distribution; Anny's ``height`` phenotype is then
   solved so the rest mesh has that height (:func:`solve_height_phenotype`). A batch draws (sex, q, age) jointly
   with :func:`batch_strata` so a few humans already span the prior, each one still distributed as above;
3. ``gender`` ~ Beta(12, 2) towards the sex's end (mean 0.14 male / 0.86 female: mostly clearly male or female
   bodies, some in between);
4. ``weight`` ~ Beta(3, 3), ``muscle`` ~ Beta(3, 3), ``proportions`` ~ Beta(2, 2) (a design choice: centred on
   Anny's average body, reaching the slider ends rarely; independent of each other given age and sex).

SMPL-family betas: N(0, I) truncated at +-:data:`BETA_TRUNCATION` (the PCA space is unit-variance by construction).
"""

from __future__ import annotations

import dataclasses

import numpy as np

ANNY_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")

# Anny ``age`` value <-> age in years: Anny 0.6.2's own calibration (``anny/data/shape_calibration/boys.pth``,
# ``morphological_age_mapping``, fitted by its authors to WHO height-for-age data); piecewise linear.
ANNY_AGE_ANCHORS = (0.0, 0.05, 0.215, 0.415, 0.67, 0.77, 0.83, 1.0)
AGE_YEARS_ANCHORS = (0.0, 1.0, 4.0, 11.0, 16.0, 18.0, 64.0, 110.0)
AGE_LIMITS_YEARS = (1.0, 90.0)

# Standing height (cm) by age: (age years, male mean, male sd, female mean, female sd), linearly interpolated.
# - 1-4 y: WHO Child Growth Standards (2006), length/height-for-age medians and SDs.
# - 5-17 y: WHO Growth Reference 5-19 years (de Onis et al., Bull. WHO 2007), height-for-age medians and SDs.
# - 18-50 y: NCD Risk Factor Collaboration, "A century of trends in adult human height", eLife 2016;5:e13410,
#   global mean adult height (1996 birth cohort: men ~171 cm, women ~159 cm). The adult SD is the world's, not one
#   country's: sqrt(within^2 + between^2) with a within-country SD of ~7.0 / ~6.5 cm (national surveys such as
#   NHANES) and ~4.5 cm between NCD-RisC's country means (men 160-183 cm, women 150-170 cm) -> 8.3 / 7.9 cm.
# - > 50 y: age-related height loss of about 1 cm (men) / 1.5 cm (women) per decade (Sorkin, Muller & Andres,
#   Am. J. Epidemiol. 1999, Baltimore Longitudinal Study of Aging), applied to the adult mean.
# The step between 17 y (WHO, a US-based reference) and 18 y (the global adult mean) is the tables' own difference.
HEIGHT_TABLE_CM = (
    (1.0, 75.7, 2.6, 74.0, 2.6),
    (2.0, 87.1, 3.2, 85.7, 3.2),
    (3.0, 96.1, 3.7, 95.1, 3.8),
    (4.0, 103.3, 4.1, 102.7, 4.3),
    (5.0, 110.0, 4.7, 109.4, 4.7),
    (8.0, 127.3, 5.6, 126.6, 5.7),
    (10.0, 137.8, 6.3, 138.6, 6.7),
    (12.0, 149.1, 7.2, 151.2, 7.1),
    (14.0, 163.2, 8.1, 159.8, 6.5),
    (15.0, 169.0, 7.5, 161.7, 6.4),
    (17.0, 174.5, 7.3, 162.9, 6.2),
    (18.0, 171.0, 8.3, 159.0, 7.9),
    (50.0, 171.0, 8.3, 159.0, 7.9),
    (60.0, 170.0, 8.3, 157.5, 7.9),
    (70.0, 169.0, 8.3, 156.0, 7.9),
    (90.0, 167.0, 8.3, 153.0, 7.9),
)
HEIGHT_TRUNCATION_SD = 2.5
GENDER_BETA = (12.0, 2.0)  # gender ~ Beta(a, b) for women, 1 - Beta(a, b) for men
SHAPE_BETAS = {"weight": (3.0, 3.0), "muscle": (3.0, 3.0), "proportions": (2.0, 2.0)}
BETA_TRUNCATION = 2.0


class PriorError(ValueError):
    """A prior's parameters are impossible (e.g. an empty age range); the message says how to fix it."""


def parse_range(text: str, what: str, limits: tuple[float, float]) -> tuple[float, float]:
    """``"18:70"`` -> (18.0, 70.0), checked against ``limits``; raises :class:`PriorError` otherwise."""
    lo_s, sep, hi_s = str(text).partition(":")
    try:
        lo, hi = float(lo_s), float(hi_s if sep else lo_s)
    except ValueError:
        raise PriorError(f"{what} {text!r} is not a range; write LOW:HIGH, e.g. 18:70") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise PriorError(f"{what} {text!r} is impossible: the low end is above the high end; write LOW:HIGH with "
                         f"LOW <= HIGH, e.g. {int(min(hi, lo))}:{int(max(hi, lo))}")
    if lo < limits[0] or hi > limits[1]:
        raise PriorError(f"{what} {text!r} is outside {limits[0]:g}:{limits[1]:g}; choose a range inside it")
    return lo, hi


def years_to_anny_age(years: float | np.ndarray) -> np.ndarray:
    """Age in years -> Anny's ``age`` phenotype (piecewise linear through :data:`ANNY_AGE_ANCHORS`)."""
    return np.interp(years, AGE_YEARS_ANCHORS, ANNY_AGE_ANCHORS)


def anny_age_to_years(age: float | np.ndarray) -> np.ndarray:
    return np.interp(age, ANNY_AGE_ANCHORS, AGE_YEARS_ANCHORS)


def height_distribution(years: float, female: bool) -> tuple[float, float]:
    """(mean, sd) standing height in metres at ``years`` for a man or a woman (:data:`HEIGHT_TABLE_CM`)."""
    table = np.asarray(HEIGHT_TABLE_CM)
    col = 3 if female else 1
    mean = np.interp(years, table[:, 0], table[:, col])
    sd = np.interp(years, table[:, 0], table[:, col + 1])
    return float(mean) / 100.0, float(sd) / 100.0


@dataclasses.dataclass(frozen=True)
class ShapeDraw:
    """One human's drawn body shape: sex, age in years, target height in metres and Anny phenotypes in [0, 1]
    (``height`` still to be solved from ``height_m`` by :func:`solve_height_phenotype`)."""

    sex: str  # "male" | "female"
    age_years: float
    height_m: float
    phenotype: dict[str, float]
    quantile: float = 0.5  # the height's quantile in its sex's distribution at that age


def truncated_normal(rng: np.random.Generator, mean: float, sd: float, limit: float, size=None) -> np.ndarray:
    """Normal(mean, sd) truncated at mean +- limit * sd, by rejection (at most 64 rounds, then clipped)."""
    z = rng.standard_normal(size)
    for _ in range(64):
        bad = np.abs(z) > limit
        if not np.any(bad):
            break
        z = np.where(bad, rng.standard_normal(np.shape(z)), z)
    return mean + sd * np.clip(z, -limit, limit)


def height_at_quantile(years: float, female: bool, q: float) -> float:
    """Standing height (m) at quantile ``q`` in [0, 1] of the truncated height distribution at ``years``."""
    from scipy.special import ndtr, ndtri

    mean, sd = height_distribution(years, female)
    lo, hi = ndtr(-HEIGHT_TRUNCATION_SD), ndtr(HEIGHT_TRUNCATION_SD)
    z = ndtri(lo + float(np.clip(q, 0.0, 1.0)) * (hi - lo))
    return mean + sd * float(np.clip(z, -HEIGHT_TRUNCATION_SD, HEIGHT_TRUNCATION_SD))


@dataclasses.dataclass(frozen=True)
class Stratum:
    """One human's place in a batch: its sex, height quantile in [0, 1) and age quantile in [0, 1) (age in years =
    low + u * (high - low)), drawn by :func:`batch_strata` instead of from the human's own stream."""

    female: bool
    quantile: float
    age_quantile: float


def batch_strata(rng: np.random.Generator, count: int) -> list[Stratum | None]:
    """(count,) strata of a batch: man-woman pairs (antithetic, Latin-hypercube), one unstratified human if odd.

    With p = count // 2 pairs: pair j holds a man at height rank k_j and a woman at rank p - 1 - k_j (k a random
    permutation of 0..p-1), both at quantile (rank + U) / p with one U ~ U(0, 1) for the batch, and of the same age
    at age quantile (a_j + V_j) / p (a another permutation, V_j ~ U(0, 1)); the slots are then shuffled. Each human
    alone is still the prior (sex 1/2, quantile ~ U(0, 1), age ~ U(range), independent), but the batch always holds
    its tallest man at quantile >= (p - 1) / p and its shortest woman at <= 1 / p, of the same age, with one U for
    both (the coupling that maximises the smallest spread): 8 adults span >= 0.3 m whatever the seed (tested).
    The odd human (None) draws its own sex, quantile and age from its stream."""
    p = count // 2
    if p == 0:
        return [None] * count
    k, a = rng.permutation(p), rng.permutation(p)
    u, v = float(rng.random()), rng.random(p)
    strata: list[Stratum | None] = []
    for j in range(p):
        age_q = float((a[j] + v[j]) / p)
        strata.append(Stratum(False, float((k[j] + u) / p), age_q))
        strata.append(Stratum(True, float((p - 1 - k[j] + u) / p), age_q))
    strata += [None] * (count - 2 * p)
    return [strata[i] for i in rng.permutation(count)]


def sample_anny_shape(rng: np.random.Generator, age_range: tuple[float, float],
                      stratum: Stratum | None = None) -> ShapeDraw:
    """Draw one body shape from the population prior (see the module docstring), ages in years; ``stratum`` (from
    :func:`batch_strata`) gives the sex, height quantile and age quantile, else they come from ``rng``."""
    u_age, female, q = float(rng.random()), bool(rng.random() < 0.5), float(rng.random())
    if stratum is not None:
        u_age, female, q = stratum.age_quantile, stratum.female, stratum.quantile
    years = float(age_range[0] + u_age * (age_range[1] - age_range[0]))
    height_m = height_at_quantile(years, female, q)
    g = float(rng.beta(*GENDER_BETA))
    pheno = {"gender": g if female else 1.0 - g, "age": float(years_to_anny_age(years)), "height": 0.5}
    for name, (a, b) in SHAPE_BETAS.items():
        pheno[name] = float(rng.beta(a, b))
    return ShapeDraw(sex="female" if female else "male", age_years=years, height_m=height_m,
                     phenotype={n: pheno[n] for n in ANNY_PHENOTYPES}, quantile=q)


def sample_betas(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count,) SMPL-family betas from N(0, I) truncated at +-BETA_TRUNCATION."""
    return truncated_normal(rng, 0.0, 1.0, BETA_TRUNCATION, size=count)


def solve_height_phenotype(rest_height, phenotype: dict[str, float], height_m: float, steps: int = 11
                           ) -> tuple[float, float]:
    """Anny ``height`` value whose rest mesh is ``height_m`` tall, and the height reached (clamped to [0, 1]).

    rest_height: fn(list of phenotype dicts) -> (N,) rest-mesh heights in metres (top minus bottom, up axis);
    evaluated once on ``steps`` height values and inverted by linear interpolation (height is monotonic in it)."""
    grid = np.linspace(0.0, 1.0, steps)
    heights = np.asarray(rest_height([{**phenotype, "height": float(h)} for h in grid]), np.float64)
    if not np.all(np.diff(heights) > 0):
        raise PriorError("Anny's rest height is not increasing with its height phenotype at this body; "
                         "this version of anny is not supported by the height prior")
    value = float(np.interp(height_m, heights, grid))
    return value, float(np.interp(value, grid, heights))
