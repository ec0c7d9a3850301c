"""Contracts of the body jobs: ``build_body`` (a body model's rig for the add-on to build)."""

from __future__ import annotations

from typing import ClassVar, Literal

from ..names import GENDERS, MODEL_NAMES
from . import JobParams, job_contract, require

__all__ = ["GENDERS", "MODELS", "ROLE_RIG", "BuildBodyParams"]

MODELS = MODEL_NAMES  # the one list (core/names.py)
ModelName = Literal[MODELS]
Gender = Literal[GENDERS]
ROLE_RIG = "rig"  # RigSpec .npz (blender_addon.core.rigspec)


@job_contract
class BuildBodyParams(JobParams):
    """model: body model; model_dir: folder of the SMPL-family files (not needed for Anny); gender; betas: shape
    coefficients (S,) (for Anny: offsets from ``phenotype`` in RigSpec.param_names order); phenotype: Anny base
    phenotype values in [0, 1] by name (e.g. ``{"age": 0.5}``)."""

    KIND: ClassVar[str] = "build_body"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_RIG,)
    model: ModelName = "anny"
    model_dir: str | None = None
    gender: Gender = "neutral"
    betas: tuple[float, ...] = ()
    phenotype: dict[str, float] | None = None

    def check(self) -> None:
        require(not self.phenotype or self.model == "anny",
                f"build_body: phenotype applies to Anny only; give {self.model} betas instead")
