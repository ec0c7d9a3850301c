"""SMPLify-X result pickles (``.pkl``: a dict of numpy arrays per image) -> Motion, with a restricted unpickler.

SMPLify-X writes one pickle per image with ``global_orient`` (1, 3), ``body_pose`` (1, 63), ``left_hand_pose`` /
``right_hand_pose`` (1, 45; PCA hand poses are refused), ``jaw_pose`` (1, 3), ``leye_pose`` / ``reye_pose``
(1, 3), ``betas`` (1, S), ``expression`` (1, E), ``transl`` (1, 3), ``camera_rotation`` / ``camera_translation``.
Pickle cannot be avoided for this format, so only numpy array reconstruction and plain builtins may be loaded:
any other global in the file raises :class:`MotionError`, so a hostile file cannot run code.

The bodies are in the camera's OpenCV axes (x right, y down, z forward); the Motion records that as
``world_axes = "opencv"`` and the Blender build turns it upright.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .. import safe_pickle
from ..motion import Motion, MotionError
from .joint_names import SMPLX_JOINTS


def load_restricted_pickle(path: str | Path) -> object:
    """Unpickle ``path`` allowing only numpy arrays/scalars and builtin containers; MotionError otherwise."""
    path = Path(path)
    try:
        return safe_pickle.load_pickle(path)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as exc:
        raise MotionError(f"{path}: not a plain SMPLify-X result pickle ({exc}); only numpy arrays and builtin "
                          "containers are accepted.") from exc


def _frame_pose(result: dict, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def get(key: str, n: int) -> np.ndarray:
        if key not in result:
            return np.zeros(n)
        v = np.asarray(result[key], np.float64).reshape(-1)
        if v.size != n:
            hint = " (PCA hand pose: re-run SMPLify-X with use_pca=False)" if "hand" in key else ""
            raise MotionError(f"{source}: '{key}' has {v.size} values, expected {n}{hint}.")
        return v

    if "global_orient" not in result or "body_pose" not in result:
        raise MotionError(f"{source}: no 'global_orient'/'body_pose'; is this a SMPLify-X result .pkl?")
    pose = np.concatenate([get("global_orient", 3), get("body_pose", 63), get("jaw_pose", 3), get("leye_pose", 3),
                           get("reye_pose", 3), get("left_hand_pose", 45), get("right_hand_pose", 45)])
    betas = np.asarray(result.get("betas", np.zeros(0)), np.float64).reshape(-1)
    expr = np.asarray(result.get("expression", np.zeros(0)), np.float64).reshape(-1)
    return pose.reshape(55, 3), get("transl", 3), betas, expr


def read_smplify(path: str | Path, fps: float = 30.0) -> Motion:
    """Read one SMPLify-X ``.pkl`` (one frame) or a folder of them (frames in sorted file-name order)."""
    path = Path(path)
    files = sorted(path.rglob("*.pkl")) if path.is_dir() else [path]
    if not files:
        raise MotionError(f"{path}: no .pkl files in this folder.")
    frames = []
    for f in files:
        result = load_restricted_pickle(f)
        if not isinstance(result, dict):
            raise MotionError(f"{f}: holds a {type(result).__name__}, expected a dict of SMPLify-X results.")
        frames.append(_frame_pose(result, str(f)))
    rotvec = np.stack([fr[0] for fr in frames])
    expr = np.stack([fr[3] for fr in frames]) if frames[0][3].size else None
    motion = Motion(model="smplx", fps=float(fps), joint_names=SMPLX_JOINTS, rotvec=rotvec,
                    transl=np.stack([fr[1] for fr in frames]), betas=frames[0][2], expression=expr, up_axis="Y",
                    world_axes="opencv", metadata={"source": "smplify-x", "source_file": path.name})
    motion.validate(str(path))
    return motion
