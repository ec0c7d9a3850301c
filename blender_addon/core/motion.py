"""The motion file: the contract between the backend's estimate and the add-on's build.

An uncompressed ``.npz`` with these keys (F frames, J joints, S shape, E expression coefficients):

| key            | shape        | meaning                                                                  |
|----------------|--------------|--------------------------------------------------------------------------|
| header         | ()           | JSON: version, model, gender, fps, up_axis, source_video, metadata       |
| joint_names    | (J,)         | joint names, in the RigSpec's order                                       |
| rotvec         | (F, J, 3)    | local joint rotations, axis-angle in radians, in the model's rest axes    |
| transl         | (F, 3)       | root translation, metres (root joint = rest root + transl)               |
| betas          | (S,)         | body shape, shared by all frames                                          |
| expression     | (F, E)       | facial expression coefficients per frame (E may be 0)                     |
| confidence     | (F,)         | fit confidence per frame in [0, 1]                                        |
| cam_K          | (F, 3, 3)    | camera intrinsics in pixels (optional)                                    |
| cam_R, cam_t   | (F,3,3),(F,3)| world -> camera extrinsics, OpenCV axes (x right, y down, z forward)      |
| image_size     | (2,)         | width, height in pixels of the source frames (with a camera)              |
| foot_contact   | (F, 2)       | left/right foot in contact with the ground (optional)                     |

Frame ``i`` is at time ``i / fps`` seconds. World axes are the body model's axes (``up_axis``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .npzio import write_npz_atomic
MOTION_VERSION = 1


class MotionError(ValueError):
    """A motion file is missing, malformed or inconsistent."""


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
    """Per-frame pinhole camera: K (F, 3, 3) pixels, R (F, 3, 3) and t (F, 3) world -> camera (OpenCV)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]  # (width, height) pixels


@dataclasses.dataclass(frozen=True, eq=False)
class Motion:
    model: str
    fps: float
    joint_names: tuple[str, ...]
    rotvec: np.ndarray  # (F, J, 3)
    transl: np.ndarray  # (F, 3)
    betas: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32))
    expression: np.ndarray | None = None  # (F, E)
    confidence: np.ndarray | None = None  # (F,)
    camera: Camera | None = None
    foot_contact: np.ndarray | None = None  # (F, 2) bool
    gender: str = "neutral"
    up_axis: str = "Y"
    source_video: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.rotvec.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (the last frame lasts 1/fps)."""
        return self.num_frames / self.fps

    def expression_or_zeros(self) -> np.ndarray:
        return self.expression if self.expression is not None else np.zeros((self.num_frames, 0), np.float32)

    def validate(self, source: str = "motion") -> None:
        F = self.num_frames
        J = len(self.joint_names)

        def need(cond: bool, what: str) -> None:
            if not cond:
                raise MotionError(f"{source}: {what}.")

        need(self.fps > 0, f"fps is {self.fps}; it must be positive")
        need(self.rotvec.ndim == 3 and self.rotvec.shape[1:] == (J, 3),
             f"rotvec has shape {self.rotvec.shape}, expected (frames, {J}, 3)")
        need(self.transl.shape == (F, 3), f"transl has shape {self.transl.shape}, expected ({F}, 3)")
        need(bool(np.all(np.isfinite(self.rotvec))) and bool(np.all(np.isfinite(self.transl))),
             "rotvec/transl contain NaN or infinite values")
        if self.expression is not None:
            need(self.expression.ndim == 2 and self.expression.shape[0] == F, "expression must be (frames, E)")
        if self.confidence is not None:
            need(self.confidence.shape == (F,), "confidence must be (frames,)")
        if self.foot_contact is not None:
            need(self.foot_contact.shape == (F, 2), "foot_contact must be (frames, 2)")
        if self.camera is not None:
            c = self.camera
            need(c.K.shape == (F, 3, 3) and c.R.shape == (F, 3, 3) and c.t.shape == (F, 3),
                 "camera arrays must be (frames, 3, 3), (frames, 3, 3), (frames, 3)")
        need(self.up_axis in ("Y", "Z"), f"up_axis is {self.up_axis!r}")

    def save(self, path: str | Path) -> Path:
        self.validate(str(path))
        path = Path(path)
        header = {"version": MOTION_VERSION, "model": self.model, "gender": self.gender, "fps": float(self.fps),
                  "up_axis": self.up_axis, "source_video": self.source_video, "metadata": self.metadata}
        arrays = {
            "header": np.asarray(json.dumps(header)),
            "joint_names": np.asarray(self.joint_names, dtype=np.str_),
            "rotvec": np.asarray(self.rotvec, np.float64),
            "transl": np.asarray(self.transl, np.float64),
            "betas": np.asarray(self.betas, np.float64),
            "expression": np.asarray(self.expression_or_zeros(), np.float64),
        }
        if self.confidence is not None:
            arrays["confidence"] = np.asarray(self.confidence, np.float32)
        if self.foot_contact is not None:
            arrays["foot_contact"] = np.asarray(self.foot_contact, bool)
        if self.camera is not None:
            arrays.update(cam_K=self.camera.K, cam_R=self.camera.R, cam_t=self.camera.t,
                          image_size=np.asarray(self.camera.image_size, np.int32))
        return write_npz_atomic(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Motion":
        path = Path(path)
        if not path.is_file():
            raise MotionError(f"{path}: no such motion file.")
        try:
            with np.load(path, allow_pickle=False) as d:
                if "header" not in d.files:
                    raise MotionError(f"{path}: not a SMPLpix Studio motion file (no 'header'); AMASS and other "
                                      "formats are read by blender_addon.core.readers.read_motion.")
                header = json.loads(str(d["header"]))
                if header.get("version") != MOTION_VERSION:
                    raise MotionError(f"{path}: motion version {header.get('version')}, expected {MOTION_VERSION}.")
                camera = None
                if "cam_K" in d.files:
                    w, h = (int(v) for v in d["image_size"])
                    camera = Camera(K=d["cam_K"], R=d["cam_R"], t=d["cam_t"], image_size=(w, h))
                expr = d["expression"] if "expression" in d.files else None
                motion = cls(
                    model=header["model"], fps=float(header["fps"]),
                    joint_names=tuple(str(s) for s in d["joint_names"]),
                    rotvec=d["rotvec"], transl=d["transl"], betas=d["betas"],
                    expression=expr if expr is not None and expr.shape[1] > 0 else None,
                    confidence=d["confidence"] if "confidence" in d.files else None,
                    camera=camera,
                    foot_contact=d["foot_contact"] if "foot_contact" in d.files else None,
                    gender=header.get("gender", "neutral"), up_axis=header.get("up_axis", "Y"),
                    source_video=header.get("source_video", ""), metadata=header.get("metadata", {}),
                )
        except MotionError:
            raise
        except Exception as exc:
            raise MotionError(f"{path}: not a readable motion file ({exc}).") from exc
        motion.validate(str(path))
        return motion
