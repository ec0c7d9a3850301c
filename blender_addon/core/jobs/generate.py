"""Job contracts of random / interpolated / re-rolled humans (``backend.generate``), shared by the operators, the
server and the CLI. Factor names and result roles are constants here, so every zone spells them the same way."""

from __future__ import annotations

from typing import ClassVar, Literal

from . import JobParams, job_contract, require

FACTORS = ("shape", "detail", "face", "pose")
MODELS = ("anny", "smplx", "smplh", "smpl")
AGE_LIMITS = (1.0, 90.0)
MAX_COUNT = 256


@job_contract
class GenerateRandomParams(JobParams):
    """``count`` random humans from ``seed``; ``fix``: factors every human shares; ages in years."""

    KIND: ClassVar[str] = "generate_random"
    RESULTS: ClassVar[tuple[str, ...]] = ("humans",)
    count: int = 4
    seed: int = 0
    model: str = "anny"
    model_dir: str | None = None
    age_min: float = 18.0
    age_max: float = 70.0
    fix: tuple[str, ...] = ()
    frames: int = 60
    fps: float = 30.0
    motion_files: tuple[str, ...] = ()

    def check(self) -> None:
        require(1 <= self.count <= MAX_COUNT, f"{self.KIND}.count is {self.count}; ask for 1 to {MAX_COUNT} humans")
        require(self.model in MODELS, f"{self.KIND}.model {self.model!r}; choose one of {', '.join(MODELS)}")
        require(self.age_min <= self.age_max, f"{self.KIND}: age range {self.age_min:g}:{self.age_max:g} is "
                "impossible (minimum above maximum); swap them")
        require(AGE_LIMITS[0] <= self.age_min and self.age_max <= AGE_LIMITS[1],
                f"{self.KIND}: ages must lie in {AGE_LIMITS[0]:g}:{AGE_LIMITS[1]:g} years")
        bad = sorted(set(self.fix) - set(FACTORS))
        require(not bad, f"{self.KIND}.fix: unknown factor name(s) {bad}; choose from {', '.join(FACTORS)}")
        require(self.frames >= 1 and self.fps > 0, f"{self.KIND}: frames must be >= 1 and fps > 0")


@job_contract
class GenerateInterpolateParams(JobParams):
    """A motion morphing human ``a`` into human ``b`` (records: human_NNN.json or humans.json:INDEX)."""

    KIND: ClassVar[str] = "generate_interpolate"
    RESULTS: ClassVar[tuple[str, ...]] = ("rig", "motion", "record")
    a: str
    b: str
    frames: int = 120
    fps: float | None = None
    model_dir: str | None = None

    def check(self) -> None:
        require(self.frames >= 2, f"{self.KIND}.frames is {self.frames}; an interpolation needs at least 2")


@job_contract
class GenerateRerollParams(JobParams):
    """Human ``record`` with one ``factor`` drawn again from ``seed``."""

    KIND: ClassVar[str] = "generate_reroll"
    RESULTS: ClassVar[tuple[str, ...]] = ("rig", "motion", "record")
    record: str
    factor: Literal["shape", "detail", "face", "pose"]
    seed: int = 1
    model_dir: str | None = None
