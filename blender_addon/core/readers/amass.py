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
    trans = np.asarray(data["trans"], np.float64)
    F = trans.shape[0]
    fps = data.get("mocap_frame_rate", data.get("mocap_framerate"))
    if fps is None:
        raise MotionError(f"{path}: no 'mocap_frame_rate' / 'mocap_framerate'; cannot tell the frame rate.")
    model = _text(data.get("surface_model_type"), "").lower()
    if "root_orient" in data:
        zeros = np.zeros((F, 0))
        body = np.concatenate([data["root_orient"], data["pose_body"]], axis=1).reshape(F, -1, 3)
        hands = np.asarray(data.get("pose_hand", np.zeros((F, 90)))).reshape(F, -1, 3)
        if hands.shape[1] != 30:
            raise MotionError(f"{path}: pose_hand has {hands.shape[1]} joints, expected 30 (PCA hands unsupported).")
        if model == "smplx" or "pose_jaw" in data:
            head = np.concatenate([data.get("pose_jaw", np.zeros((F, 3))), data.get("pose_eye", np.zeros((F, 6))),
                                   zeros], axis=1).reshape(F, 3, 3)
            rotvec, model = np.concatenate([body[:, :22], head, hands], axis=1), "smplx"
        else:
            rotvec, model = np.concatenate([body[:, :22], hands], axis=1), "smplh"
    else:
        poses = np.asarray(data["poses"], np.float64).reshape(F, -1, 3)
        by_count = {52: "smplh", 55: "smplx", 24: "smpl"}
        if poses.shape[1] not in by_count:
            raise MotionError(f"{path}: 'poses' has {poses.shape[1] * 3} values per frame; expected 156 (SMPL-H), "
                              "165 (SMPL-X) or 72 (SMPL).")
        rotvec, model = poses, by_count[poses.shape[1]]
    names = {"smplh": SMPLH_JOINTS, "smplx": SMPLX_JOINTS}.get(model, JOINTS_BY_MODEL.get(model))
    motion = Motion(
        model=model, fps=float(np.asarray(fps).item()), joint_names=tuple(names), rotvec=np.asarray(rotvec, np.float64),
        transl=trans, betas=np.asarray(data.get("betas", np.zeros(0)), np.float64).reshape(-1),
        gender=_text(data.get("gender"), "neutral").lower(), up_axis="Z",
        metadata={"source": "amass", "source_file": path.name},
    )
    motion.validate(str(path))
    return motion
