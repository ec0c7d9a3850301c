"""Contract of the ``estimate`` job: a video or image folder -> motion .npz (and the rig to build it on)."""

from __future__ import annotations

from typing import ClassVar, Literal

from . import JobParams, job_contract, require
from .body import ModelName

__all__ = ["ROLE_KEYPOINTS", "ROLE_METRICS", "ROLE_MOTION", "ROLE_RIG", "EstimateParams"]

ROLE_MOTION = "motion"  # motion .npz (blender_addon.core.motion)
ROLE_KEYPOINTS = "keypoints"  # the detections (.npz)
ROLE_METRICS = "metrics"  # fit metrics and timings (.json)
ROLE_RIG = "rig"  # RigSpec .npz of the motion's body model and gender (no second build_body round trip)


@job_contract
class EstimateParams(JobParams):
    """input: video file or image folder; model/model_dir: body model; start/end/stride: source frames (0-based, end
    exclusive, None: to the end); focal: pixels (None: from the image size); iterations: main fit iterations (None:
    the default); hands: fit fingers; follow_fast_motion: relax smoothing where the fit misses confident detections;
    cache_dir: detections cache (None: the shared one, ``$SMPLPIX_CACHE_DIR/detections``; "none": no cache);
    camera: "auto" tracks a panning/zooming camera from the background (static footage stays static), "static"
    assumes a fixed camera; subject: "body" (the whole person), or "face" (a face close-up: detected with Face Mesh,
    Anny's head pose and facial actions, a motion marked ``metadata.subject = "face"`` for face avatars; FLAME is
    always a face)."""

    KIND: ClassVar[str] = "estimate"
    RESULTS: ClassVar[tuple[str, ...]] = (ROLE_MOTION, ROLE_KEYPOINTS, ROLE_METRICS, ROLE_RIG)
    input: str
    model: ModelName = "anny"
    model_dir: str | None = None
    start: int = 0
    end: int | None = None
    stride: int = 1
    focal: float | None = None
    iterations: int | None = None
    hands: bool = True
    follow_fast_motion: bool = False
    cache_dir: str | None = None
    camera: Literal["auto", "static"] = "auto"
    subject: Literal["body", "face"] = "body"

    def check(self) -> None:
        require(bool(self.input), "estimate: input (a video file or image folder) is required")
        require(self.start >= 0, f"estimate: start={self.start}; frames are counted from 0")
        require(self.stride >= 1, f"estimate: stride={self.stride}; use 1 or more")
        require(self.end is None or self.end > self.start, f"estimate: end={self.end} must be after start={self.start}")
        require(self.focal is None or self.focal > 0, f"estimate: focal={self.focal} px must be positive")
        require(self.iterations is None or self.iterations >= 0, f"estimate: iterations={self.iterations} < 0")
        require(self.subject == "body" or self.model in ("anny", "flame"),
                f"estimate: subject='face' with model={self.model!r}; a face-only estimate uses anny or flame")
