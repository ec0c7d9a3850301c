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

Frame ``i`` is at time ``i / fps`` seconds. The header (version 2) also carries the world axes and the
source-frame mapping as first-class fields:

- ``world_axes``: ``"Y"`` / ``"Z"`` (the body model's axes, = ``up_axis``) or ``"opencv"`` (camera axes: x right,
  y down, z forward, e.g. SMPLify-X results).
- ``frame_start``, ``frame_stride``, ``source_fps``: motion frame ``i`` is source video frame
  ``frame_start + i * frame_stride`` (0-based); ``source_fps`` is the video's frame rate (0: unknown).

Version 1 files kept these four in ``metadata``; :meth:`Motion.load` reads both (see :func:`_legacy_fields`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from .npzio import write_npz_atomic

MOTION_VERSION = 2
READABLE_VERSIONS = (1, 2)
WORLD_AXES = ("Y", "Z", "opencv")
_MAPPING_KEYS = ("world_axes", "frame_start", "frame_stride", "source_fps")  # metadata keys of version 1
MAX_FPS = 10_000.0


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
    world_axes: str = ""  # "Y" / "Z" / "opencv"; "" = up_axis (see the module docstring)
    frame_start: int = 0  # source frame of motion frame 0
    frame_stride: int = 1  # source frames per motion frame
    source_fps: float = 0.0  # the source video's frame rate (0: unknown)

    def __post_init__(self) -> None:
        legacy = _legacy_fields(self.metadata)
        if legacy:  # version-1 style metadata keys become fields (fields given explicitly win)
            object.__setattr__(self, "metadata", {k: v for k, v in self.metadata.items() if k not in _MAPPING_KEYS})
            for key, value in legacy.items():
                defaulted = getattr(self, key) == _DEFAULTS[key] or (key == "world_axes" and
                                                                    self.world_axes == self.up_axis)
                if defaulted:
                    object.__setattr__(self, key, value)
        if not self.world_axes:
            object.__setattr__(self, "world_axes", self.up_axis)

    def source_frames(self) -> np.ndarray:
        """(F,) 0-based source video frame of each motion frame: frame_start + i * frame_stride."""
        return self.frame_start + self.frame_stride * np.arange(self.num_frames, dtype=np.int64)

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

        need(_finite_number(self.fps) and 0 < self.fps <= MAX_FPS,
             f"fps is {self.fps}; it must be a finite number in (0, {MAX_FPS:g}]")
        need(F > 0, "has 0 frames; a motion needs at least one frame")
        need(self.rotvec.ndim == 3 and self.rotvec.shape[1:] == (J, 3),
             f"rotvec has shape {self.rotvec.shape}, expected (frames, {J}, 3)")
        need(self.transl.shape == (F, 3), f"transl has shape {self.transl.shape}, expected ({F}, 3)")
        need(bool(np.all(np.isfinite(self.rotvec))) and bool(np.all(np.isfinite(self.transl))),
             "rotvec/transl contain NaN or infinite values")
        need(np.asarray(self.betas).ndim == 1 and bool(np.all(np.isfinite(self.betas))),
             "betas must be a finite (S,) vector")
        if self.expression is not None:
            need(self.expression.ndim == 2 and self.expression.shape[0] == F, "expression must be (frames, E)")
            need(bool(np.all(np.isfinite(self.expression))), "expression contains NaN or infinite values")
        if self.confidence is not None:
            need(self.confidence.shape == (F,), "confidence must be (frames,)")
            need(bool(np.all(np.isfinite(self.confidence))), "confidence contains NaN or infinite values")
        if self.foot_contact is not None:
            need(self.foot_contact.shape == (F, 2), "foot_contact must be (frames, 2)")
        if self.camera is not None:
            self._validate_camera(need)
        need(self.up_axis in ("Y", "Z"), f"up_axis is {self.up_axis!r}; expected 'Y' or 'Z'")
        need(self.world_axes in (self.up_axis, "opencv"),
             f"world_axes is {self.world_axes!r}; expected {self.up_axis!r} (up_axis) or 'opencv'")
        need(_whole_number(self.frame_start) and self.frame_start >= 0,
             f"frame_start is {self.frame_start}; it must be a whole number >= 0")
        need(_whole_number(self.frame_stride) and self.frame_stride >= 1,
             f"frame_stride is {self.frame_stride}; it must be a whole number >= 1")
        need(_finite_number(self.source_fps) and 0 <= self.source_fps <= MAX_FPS,
             f"source_fps is {self.source_fps}; it must be finite, 0 (unknown) or positive")

    def _validate_camera(self, need) -> None:
        c, F = self.camera, self.num_frames
        need(c.K.shape == (F, 3, 3) and c.R.shape == (F, 3, 3) and c.t.shape == (F, 3),
             "camera arrays must be (frames, 3, 3), (frames, 3, 3), (frames, 3)")
        need(all(np.all(np.isfinite(a)) for a in (c.K, c.R, c.t)), "camera K/R/t contain NaN or infinite values")
        need(bool(np.all(c.K[:, 0, 0] > 0) and np.all(c.K[:, 1, 1] > 0)),
             "camera focal lengths (cam_K[:, 0, 0], cam_K[:, 1, 1]) must be positive")
        size = tuple(c.image_size)
        need(len(size) == 2 and all(_whole_number(v) and v > 0 for v in size),
             f"image_size is {size}; width and height must be positive whole numbers")

    def save(self, path: str | Path) -> Path:
        self.validate(str(path))
        path = Path(path)
        header = {"version": MOTION_VERSION, "model": self.model, "gender": self.gender, "fps": float(self.fps),
                  "up_axis": self.up_axis, "world_axes": self.world_axes, "frame_start": int(self.frame_start),
                  "frame_stride": int(self.frame_stride), "source_fps": float(self.source_fps),
                  "source_video": self.source_video, "metadata": self.metadata}
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
                if header.get("version") not in READABLE_VERSIONS:
                    raise MotionError(f"{path}: motion version {header.get('version')}, expected one of "
                                      f"{READABLE_VERSIONS}; re-export it with this version of SMPLpix Studio.")
                fields = {k: header[k] for k in _MAPPING_KEYS if k in header}  # version 2; v1: in metadata
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
                    source_video=header.get("source_video", ""), metadata=header.get("metadata", {}), **fields,
                )
        except MotionError:
            raise
        except Exception as exc:
            raise MotionError(f"{path}: not a readable motion file ({exc}).") from exc
        motion.validate(str(path))
        return motion


_DEFAULTS = {"world_axes": "", "frame_start": 0, "frame_stride": 1, "source_fps": 0.0}


def _legacy_fields(metadata: dict) -> dict:
    """The source-frame mapping and world axes a version-1 motion kept in ``metadata`` (as field values)."""
    out = {}
    for key in _MAPPING_KEYS:
        if key in metadata:
            cast = {"world_axes": str, "source_fps": float}.get(key, int)
            try:
                out[key] = cast(metadata[key])
            except (TypeError, ValueError):
                out[key] = metadata[key]  # left for validate() to name
    return out


def _finite_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and bool(np.isfinite(x))


def _whole_number(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
