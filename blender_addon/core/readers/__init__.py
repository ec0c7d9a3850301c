"""Motion readers and writers (numpy + stdlib only): project .npz, AMASS .npz, SMPLify-X .pkl, smplcodec .smpl."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion import Motion, MotionError
from .amass import is_amass, read_amass
from .joint_names import JOINTS_BY_MODEL, SMPL_JOINTS, SMPLH_JOINTS, SMPLX_JOINTS, remap_motion
from .smpl_format import read_smpl, write_smpl
from .smplify import read_smplify

__all__ = ["read_motion", "write_motion", "remap_motion", "read_amass", "read_smpl", "write_smpl", "read_smplify",
           "JOINTS_BY_MODEL", "SMPL_JOINTS", "SMPLH_JOINTS", "SMPLX_JOINTS", "READABLE_SUFFIXES"]

READABLE_SUFFIXES = (".npz", ".smpl", ".pkl")


def read_motion(path: str | Path, fps: float = 30.0) -> Motion:
    """Read any supported motion file by its suffix and keys. ``fps`` is used only by formats without one (pkl).

    .npz with a ``header`` -> project motion file; .npz with ``trans`` + ``poses``/``root_orient`` -> AMASS;
    .smpl -> smplcodec; .pkl or a folder of .pkl -> SMPLify-X results.
    """
    path = Path(path)
    if not path.exists():
        raise MotionError(f"{path}: no such motion file.")
    if path.is_dir() or path.suffix.lower() == ".pkl":
        return read_smplify(path, fps=fps)
    suffix = path.suffix.lower()
    if suffix == ".smpl":
        return read_smpl(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as d:
                files = list(d.files)
        except Exception as exc:
            raise MotionError(f"{path}: not a readable .npz ({exc}).") from exc
        if "header" in files:
            return Motion.load(path)
        if is_amass(files):
            return read_amass(path)
        raise MotionError(f"{path}: an .npz that is neither a SMPLpix Studio motion (no 'header') nor AMASS "
                          f"(keys: {', '.join(files[:8])}).")
    raise MotionError(f"{path}: unsupported motion file type {suffix!r}; use one of {', '.join(READABLE_SUFFIXES)}.")


def write_motion(path: str | Path, motion: Motion) -> Path:
    """Write ``motion`` as a project .npz or a smplcodec .smpl (by suffix); written to .part, then renamed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return motion.save(path)
    if suffix == ".smpl":
        return write_smpl(path, motion)
    raise MotionError(f"{path}: can write .npz or .smpl motion files, not {suffix!r}.")
