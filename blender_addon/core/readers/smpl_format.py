"""The ``.smpl`` motion format of ``smplcodec`` (Meshcapade), read and written with numpy only (no pickle).

A ``.smpl`` file is an ``np.savez_compressed`` archive with camelCase keys:
``codecVersion`` (int32 ()), ``smplVersion`` (int32 (): 0 SMPL, 1 SMPL-H, 2 SMPL-X), ``gender`` (int32 ():
0 neutral, 1 male, 2 female), ``shapeParameters`` (S,), ``frameCount`` (int32 ()), ``frameRate`` (float32 ()),
``bodyTranslation`` (F, 3), ``bodyPose`` (F, 22, 3) pelvis..right_wrist (SMPL: (F, 24, 3)), ``headPose``
(F, 3, 3) jaw/left eye/right eye, ``leftHandPose`` / ``rightHandPose`` (F, 15, 3), ``expressionParameters``
(F, E). Values are float32; world axes are Y-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion import Motion, MotionError
from ..npzio import write_npz_atomic
from .joint_names import JOINTS_BY_MODEL, canonical, remap_motion

CODEC_VERSION = 2
_VERSIONS = {0: "smpl", 1: "smplh", 2: "smplx"}
_GENDERS = {0: "neutral", 1: "male", 2: "female"}
# Joint ranges of each pose key within the model's joint list.
_PARTS = {
    "smpl": (("bodyPose", 0, 24),),
    "smplh": (("bodyPose", 0, 22), ("leftHandPose", 22, 37), ("rightHandPose", 37, 52)),
    "smplx": (("bodyPose", 0, 22), ("headPose", 22, 25), ("leftHandPose", 25, 40), ("rightHandPose", 40, 55)),
}


def read_smpl(path: str | Path) -> Motion:
    """Read a ``.smpl`` file into a Motion with the model's joints (smpl 24, smplh 52, smplx 55)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as d:
            data = {k: d[k] for k in d.files}
    except Exception as exc:
        raise MotionError(f"{path}: not a readable .smpl file ({exc}).") from exc
    version = int(data.get("smplVersion", np.asarray(2)))
    if version not in _VERSIONS:
        raise MotionError(f"{path}: smplVersion {version} is not supported (only SMPL, SMPL-H, SMPL-X).")
    model = _VERSIONS[version]
    if "bodyPose" not in data:
        raise MotionError(f"{path}: no 'bodyPose'; a .smpl file without motion cannot be animated.")
    F = int(data["frameCount"]) if "frameCount" in data else int(data["bodyPose"].shape[0])
    names = JOINTS_BY_MODEL[model]
    rotvec = np.zeros((F, len(names), 3))
    for key, a, b in _PARTS[model]:
        if key in data:
            rotvec[:, a:b] = np.asarray(data[key], np.float64).reshape(F, b - a, 3)
    transl = np.asarray(data.get("bodyTranslation", np.zeros((F, 3))), np.float64).reshape(F, 3)
    expr = np.asarray(data["expressionParameters"], np.float64) if "expressionParameters" in data else None
    motion = Motion(
        model=model, fps=float(data.get("frameRate", np.asarray(30.0))), joint_names=names, rotvec=rotvec,
        transl=transl, betas=np.asarray(data.get("shapeParameters", np.zeros(0)), np.float64).reshape(-1),
        expression=expr, gender=_GENDERS.get(int(data.get("gender", np.asarray(0))), "neutral"), up_axis="Y",
        metadata={"source": "smplcodec", "source_file": path.name},
    )
    motion.validate(str(path))
    return motion


def write_smpl(path: str | Path, motion: Motion) -> Path:
    """Write ``motion`` (an SMPL, SMPL-H or SMPL-X motion; joints matched by name) to a ``.smpl`` file."""
    path = Path(path)
    model = motion.model.lower()
    if model not in _PARTS:
        guess = {len(v): k for k, v in JOINTS_BY_MODEL.items()}.get(len(motion.joint_names))
        if guess is None or any(canonical(a) != canonical(b)
                                for a, b in zip(motion.joint_names, JOINTS_BY_MODEL[guess], strict=False)):
            raise MotionError(f"{path}: .smpl holds SMPL/SMPL-H/SMPL-X motions only; this one is {motion.model!r}.")
        model = guess
    m = remap_motion(motion, JOINTS_BY_MODEL[model], model=model, min_fraction=0.0)
    F = m.num_frames
    rot = np.asarray(m.rotvec, np.float32)
    data = {
        "codecVersion": np.asarray(CODEC_VERSION, np.int32),
        "smplVersion": np.asarray({v: k for k, v in _VERSIONS.items()}[model], np.int32),
        "gender": np.asarray({v: k for k, v in _GENDERS.items()}.get(m.gender, 0), np.int32),
        "frameCount": np.asarray(F, np.int32),
        "frameRate": np.asarray(m.fps, np.float32),
        "bodyTranslation": np.asarray(m.transl, np.float32),
    }
    if len(m.betas):
        data["shapeParameters"] = np.asarray(m.betas, np.float32).reshape(-1)
    for key, a, b in _PARTS[model]:
        data[key] = rot[:, a:b].copy()
    if m.expression is not None and m.expression.shape[1] > 0:
        data["expressionParameters"] = np.asarray(m.expression, np.float32)
    return write_npz_atomic(path, data, compressed=True)
