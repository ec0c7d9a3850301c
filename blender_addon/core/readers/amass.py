"""AMASS .npz motions (SMPL-H ``poses`` files and SMPL-X ``root_orient``/``pose_body`` files) -> Motion.

Both variants are read without pickle. AMASS worlds are Z-up (``up_axis="Z"``); rotations are SMPL local
axis-angle in the body's rest axes, as in the motion file.

Older (SMPL-H G): ``poses`` (F, 156) = 52 joints x 3, ``trans`` (F, 3), ``betas`` (16,), ``mocap_framerate``.
Newer (SMPL-X N / SMPL-H): ``root_orient`` (F, 3), ``pose_body`` (F, 63), ``pose_hand`` (F, 90), optional
``pose_jaw`` (F, 3), ``pose_eye`` (F, 6), ``trans``, ``betas``, ``mocap_frame_rate``, ``surface_model_type``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion import Motion, MotionError
from .joint_names import JOINTS_BY_MODEL, SMPLH_JOINTS, SMPLX_JOINTS


def is_amass(files: list[str] | tuple[str, ...]) -> bool:
    return "trans" in files and ("poses" in files or "root_orient" in files)


def _text(value: np.ndarray, default: str) -> str:
    if value is None:
        return default
    v = value.item() if value.shape == () else value
    if isinstance(v, bytes):
        v = v.decode()
    return str(v)


def _frames_by(data: dict, key: str, width: int | None, path: Path, frames: int | None = None,
               optional: bool = False) -> np.ndarray | None:
    """``data[key]`` as a float (F, width) array, or a MotionError naming the file and the key."""
    if key not in data:
        if optional:
            return None
        raise MotionError(f"{path}: AMASS key '{key}' is missing; the file is incomplete or not an AMASS motion.")
    try:
        a = np.asarray(data[key], np.float64)
    except (TypeError, ValueError):
        raise MotionError(f"{path}: AMASS key '{key}' is not numeric.") from None
    want = f"(frames, {width})" if width else "(frames, values)"
    if a.ndim != 2 or (width is not None and a.shape[1] != width) or (frames is not None and a.shape[0] != frames):
        if key == "pose_hand" and a.ndim == 2 and a.shape[0] == frames:
            raise MotionError(f"{path}: AMASS key 'pose_hand' has {a.shape[1]} values per frame, expected 90 "
                              "(30 joints; PCA hands unsupported).")
        raise MotionError(f"{path}: AMASS key '{key}' has shape {a.shape}, expected {want}"
                          + (f" with {frames} frames like 'trans'" if frames is not None else "") + ".")
    return a


def read_amass(path: str | Path) -> Motion:
    """Read an AMASS .npz (either key variant) into a Motion with smplh (52) or smplx (55) joints."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as d:
            data = {}
            for k in d.files:
                try:
                    data[k] = d[k]
                except ValueError:  # an object array (pickled); AMASS's needed keys are plain arrays
                    continue
    except Exception as exc:
        raise MotionError(f"{path}: not a readable AMASS .npz ({exc}).") from exc
    if not is_amass(list(data)):
        raise MotionError(f"{path}: no AMASS keys (need 'trans' and 'poses' or 'root_orient').")
    trans = _frames_by(data, "trans", 3, path)
    F = trans.shape[0]
    if F == 0:
        raise MotionError(f"{path}: 'trans' has 0 frames; the motion is empty.")
    fps = data.get("mocap_frame_rate", data.get("mocap_framerate"))
    if fps is None:
        raise MotionError(f"{path}: no 'mocap_frame_rate' / 'mocap_framerate'; cannot tell the frame rate.")
    if np.asarray(fps).size != 1:
        raise MotionError(f"{path}: 'mocap_frame_rate' must be one number, got shape {np.asarray(fps).shape}.")
    model = _text(data.get("surface_model_type"), "").lower()
    if "root_orient" in data:
        zeros = np.zeros((F, 0))
        body = np.concatenate([_frames_by(data, "root_orient", 3, path, F),
                               _frames_by(data, "pose_body", 63, path, F)], axis=1).reshape(F, -1, 3)
        hands = _frames_by(data, "pose_hand", 90, path, F, optional=True)
        hands = (np.zeros((F, 90)) if hands is None else hands).reshape(F, -1, 3)
        if model == "smplx" or "pose_jaw" in data:
            jaw = _frames_by(data, "pose_jaw", 3, path, F, optional=True)
            eye = _frames_by(data, "pose_eye", 6, path, F, optional=True)
            head = np.concatenate([np.zeros((F, 3)) if jaw is None else jaw, np.zeros((F, 6)) if eye is None else eye,
                                   zeros], axis=1).reshape(F, 3, 3)
            rotvec, model = np.concatenate([body[:, :22], head, hands], axis=1), "smplx"
        else:
            rotvec, model = np.concatenate([body[:, :22], hands], axis=1), "smplh"
    else:
        poses = _frames_by(data, "poses", None, path, F)
        by_count = {52: "smplh", 55: "smplx", 24: "smpl"}
        if poses.shape[1] % 3 or poses.shape[1] // 3 not in by_count:
            raise MotionError(f"{path}: 'poses' has {poses.shape[1]} values per frame; expected 156 (SMPL-H), "
                              "165 (SMPL-X) or 72 (SMPL).")
        rotvec, model = poses.reshape(F, -1, 3), by_count[poses.shape[1] // 3]
    names = {"smplh": SMPLH_JOINTS, "smplx": SMPLX_JOINTS}.get(model, JOINTS_BY_MODEL.get(model))
    motion = Motion(
        model=model, fps=float(np.asarray(fps).item()), joint_names=tuple(names), rotvec=np.asarray(rotvec, np.float64),
        transl=trans, betas=np.asarray(data.get("betas", np.zeros(0)), np.float64).reshape(-1),
        gender=_text(data.get("gender"), "neutral").lower(), up_axis="Z",
        metadata={"source": "amass", "source_file": path.name},
    )
    motion.validate(str(path))
    return motion
