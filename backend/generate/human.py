"""One generated human: its factors (shape, detail, face, pose), each drawn from its own random stream, and their
realisation as a RigSpec (shape and detail baked into the rest mesh, feet on the floor) plus a motion.

Streams: factor ``f`` of human ``i`` under seed ``s`` draws from ``PCG64(SeedSequence([s, i, FACTOR_IDS[f]]))``,
so changing (re-rolling) one factor leaves the others as they were, and ``--fix f`` (every human uses human 0's
stream for ``f``) keeps that factor while the others vary.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from backend.bodymodels.detail import vertex_frames
from backend.generate.detail_layers import mix_layers, sample_detail
from backend.generate.face import face_coefficients, sample_face
from backend.generate.motion_sources import motion_for, sample_pose
from backend.generate.prior import (
    AGE_LIMITS_YEARS,
    PriorError,
    Stratum,
    batch_strata,
    sample_anny_shape,
    sample_betas,
    solve_height_phenotype,
)
from backend.runtime import torch_threads
from blender_addon.core.jobs.generate import FACTORS
from blender_addon.core.motion import Motion
from blender_addon.core.rigspec import RigSpec


FACTOR_IDS = {"shape": 1, "detail": 2, "face": 3, "pose": 4}
NUM_BETAS = 10


@dataclasses.dataclass(frozen=True)
class GenerateOptions:
    """What ``generate random`` draws from. Ages in years; ``fix``: factor names every human shares."""

    model: str = "anny"
    seed: int = 0
    age_range: tuple[float, float] = (18.0, 70.0)
    fix: tuple[str, ...] = ()
    frames: int = 60
    fps: float = 30.0
    motion_files: tuple[str, ...] = ()
    scan_layers: tuple[tuple[str, float], ...] = ()  # (detail layer file, scale)
    gender: str = "neutral"  # SMPL-family model file

    def check(self) -> None:
        bad = sorted(set(self.fix) - set(FACTORS))
        if bad:
            raise PriorError(f"unknown factor name(s) {bad}; --fix takes {' | '.join(FACTORS)}")
        lo, hi = self.age_range
        if lo > hi:
            raise PriorError(f"age range {lo:g}:{hi:g} is impossible (low above high); write e.g. {hi:g}:{lo:g}")
        if lo < AGE_LIMITS_YEARS[0] or hi > AGE_LIMITS_YEARS[1]:
            raise PriorError(f"age range {lo:g}:{hi:g} is outside {AGE_LIMITS_YEARS[0]:g}:{AGE_LIMITS_YEARS[1]:g}")
        if self.frames < 1 or self.fps <= 0:
            raise PriorError("frames must be >= 1 and fps > 0")


def factor_rng(seed: int, index: int, factor: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index), FACTOR_IDS[factor]])))


def sample_factor(body, opts: GenerateOptions, factor: str, stream: tuple[int, int],
                  stratum: Stratum | None = None) -> dict:
    """Draw one factor from stream (seed, index); the result is JSON-ready and records its stream. ``stratum``
    (from :func:`shape_strata`) places the shape in its batch (sex, height and age quantiles)."""
    rng = factor_rng(stream[0], stream[1], factor)
    if factor == "shape":
        out = body.sample_shape(rng, opts.age_range, stratum)
    elif factor == "detail":
        out = sample_detail(rng, dict(opts.scan_layers))
    elif factor == "face":
        out = sample_face(rng, body.model)
    else:
        out = sample_pose(rng, body.model, opts.motion_files)
    return {"stream": [int(stream[0]), int(stream[1])], **out}


def shape_strata(seed: int, count: int) -> list[Stratum | None]:
    """(count,) body-shape strata of a batch of ``count`` under ``seed`` (:func:`backend.generate.prior.batch_strata`),
    from the batch's own stream (so a human's shape depends on its batch size, not on the other humans' draws)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(count), 0])))
    return batch_strata(rng, count)


def sample_human(body, opts: GenerateOptions, index: int, count: int = 1) -> dict:
    """The factors of human ``index`` of a batch of ``count``: {"shape": ..., "detail": ..., "face": ...,
    "pose": ...}; a fixed factor comes from human 0's stream."""
    strata = shape_strata(opts.seed, count)
    out = {}
    for f in FACTORS:
        i = 0 if f in opts.fix else index
        out[f] = sample_factor(body, opts, f, (opts.seed, i), strata[i] if f == "shape" else None)
    return out


class AnnyGenerator:
    """Anny behind the generator: draws phenotypes (height solved on the model) and bakes a body's rest mesh."""

    model = "anny"

    def __init__(self, device: str = "cpu") -> None:
        from backend.bodymodels.anny_model import AnnyBodyModel

        self.body = AnnyBodyModel(device=device)
        self.names = self.body.param_names
        self.num_vertices = int(self.body.anny.template_vertices.shape[0])
        self._reference = None

    @property
    def reference_rig(self) -> RigSpec:
        """The base body (all phenotypes 0.5): procedural detail layers are defined on it, once per topology."""
        if self._reference is None:
            self._reference = self.body.rig_spec()
        return self._reference

    def rest_heights(self, phenotypes: list[dict]) -> np.ndarray:
        """(N,) rest-mesh heights in metres of N phenotype dicts (one batched model evaluation)."""
        import torch

        p = torch.tensor([[d[n] for n in self.names] for d in phenotypes], dtype=self.body.dtype)
        with torch.no_grad(), torch_threads(1):  # the same bytes on any machine
            verts, _ = self.body._phenotype_rest(p.to(self.body.base_phenotype.device))
        z = verts[..., 2]
        return (z.max(1).values - z.min(1).values).double().cpu().numpy()

    def sample_shape(self, rng: np.random.Generator, age_range: tuple[float, float],
                     stratum: Stratum | None = None) -> dict:
        draw = sample_anny_shape(rng, age_range, stratum)
        height, reached = solve_height_phenotype(self.rest_heights, draw.phenotype, draw.height_m)
        pheno = {**draw.phenotype, "height": height}
        return {"sex": draw.sex, "age_years": draw.age_years, "target_height_m": draw.height_m, "quantile": draw.quantile,
                "height_m": reached, "phenotype": pheno}

    def shaped_rig(self, shape: dict) -> tuple[RigSpec, np.ndarray]:
        """(RigSpec with the phenotype baked in, its zero-shape coefficients (S,))."""
        import torch

        pheno = torch.tensor([[float(shape["phenotype"][n]) for n in self.names]], dtype=self.body.dtype)
        with torch_threads(1):  # the same bytes on any machine
            rig = self.body.rig_spec(shape=pheno - self.body.base_phenotype.cpu())
        return rig, np.zeros(len(rig.shape_names))


class SmplFamilyGenerator:
    """SMPL-X / SMPL-H / SMPL / FLAME from the user's model files: betas ~ N(0, I) truncated."""

    def __init__(self, model: str, model_dir: str | None, gender: str = "neutral", device: str = "cpu") -> None:
        from backend.bodymodels import load_body_model

        self.model = model
        self.body = load_body_model(model, model_dir=model_dir, gender=gender, num_betas=NUM_BETAS, device=device)
        self._rig = self.body.rig_spec()
        self.num_vertices = self._rig.num_vertices
        self.reference_rig = self._rig

    def sample_shape(self, rng: np.random.Generator, age_range: tuple[float, float],
                     stratum: Stratum | None = None) -> dict:
        betas = sample_betas(rng, min(NUM_BETAS, len(self._rig.shape_names)))
        verts, _ = self._rig.rest_state(betas)
        up = verts[:, "XYZ".index(self._rig.up_axis)]
        return {"betas": [float(b) for b in betas], "height_m": float(up.max() - up.min())}

    def shaped_rig(self, shape: dict) -> tuple[RigSpec, np.ndarray]:
        return self._rig, np.asarray(shape["betas"], np.float64)


def make_generator(model: str = "anny", model_dir: str | None = None, gender: str = "neutral", device: str = "cpu"):
    if model == "anny":
        return AnnyGenerator(device)
    return SmplFamilyGenerator(model, model_dir, gender, device)


def _shift_up(rig: RigSpec, template: np.ndarray, lift: float) -> RigSpec:
    up = np.zeros(3)
    up["XYZ".index(rig.up_axis)] = lift
    return dataclasses.replace(rig, template=template + up, rest_joints=rig.rest_joints + up,
                               bone_tails=rig.bone_tails + up)


def rest_body(generator, factors: dict, cache: dict | None = None) -> tuple[RigSpec, np.ndarray, dict]:
    """Realise shape + detail at rest: (RigSpec whose shaped rest mesh stands on the floor, betas (S,), measures).

    The detail mix is added to the shaped rest mesh in its own vertex frames, then everything is lifted so the
    lowest vertex is at height 0 (the template for Anny, whose shape is baked; SMPL keeps betas as shape keys)."""
    rig, betas = generator.shaped_rig(factors["shape"])
    shaped, _ = rig.rest_state(betas)
    local = mix_layers(generator.reference_rig, factors["detail"], cache)
    offsets = np.einsum("vij,vj->vi", vertex_frames(shaped, rig.faces), local)  # local frames -> model space
    up = "XYZ".index(rig.up_axis)
    dressed = shaped + offsets
    lift = -float(dressed[:, up].min())
    rig = _shift_up(rig, rig.template + offsets, lift)
    measures = {"height_m": float(dressed[:, up].max() - dressed[:, up].min()), "floor_lift_m": lift,
                "detail_max_offset_m": float(np.linalg.norm(offsets, axis=1).max(initial=0.0))}
    return rig, betas, measures


def realise(generator, factors: dict, frames: int, fps: float, cache: dict | None = None
            ) -> tuple[RigSpec, Motion, dict]:
    """A human's factors -> (RigSpec, Motion, measures)."""
    rig, betas, measures = rest_body(generator, factors, cache)
    rotvec, transl, meta = motion_for(factors["pose"], rig, frames, fps)
    expr = face_coefficients(factors["face"], rig.expr_names)
    rig = dataclasses.replace(rig, metadata={**rig.metadata, "generate": {"factors": factors, **measures}})
    motion = Motion(model=rig.model, fps=float(fps), joint_names=rig.joint_names, rotvec=rotvec, transl=transl,
                    betas=betas.astype(np.float64), expression=np.tile(expr, (frames, 1)) if expr.size else None,
                    gender=rig.gender, up_axis=rig.up_axis,
                    metadata={**meta, "generated": True, "pose_source": factors["pose"]["source"]})
    return rig, motion, measures
