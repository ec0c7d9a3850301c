"""The pose/motion factor: where a human's movement comes from. Every source is named in humans.json.

- ``pose_prior``: a static stance drawn per joint from the table :data:`ANNY_POSE_PRIOR` / :data:`SMPL_POSE_PRIOR`
  (truncated normals, radians, in the rig's local rest axes; "one-sided" joints such as knees and elbows bend one way
  only), held with a slow breathing sway of the spine (0.02 rad at 0.25 Hz).
- ``walk``: this project's procedural walk-and-wave for Anny (:func:`backend.demo.sample_motion.anny_walk_and_wave`)
  at a step rate ~ Uniform(0.7, 1.1) Hz.
- ``file``: a motion file the user points at (the shared videos' estimates, AMASS ``.npz``, ``.smpl``, project
  motions), read by :func:`blender_addon.core.readers.read_motion`, joints matched by name, looped or cut to the
  frame count; its root path is kept, shifted to start at the rest root.

- ``walkcycle``: one of Anny's own walk cycles (``anny/data/mpfb2/walkcycles``, named as
  ``--motion walkcycle:NAME``), converted once into joint rotations by :mod:`backend.generate.walkcycle` (cached),
  looped from a random phase, its root path scaled to the body's leg length.
"""

from __future__ import annotations

import numpy as np

from backend.generate.prior import truncated_normal
from blender_addon.core.motion import Motion
from blender_addon.core.rigspec import RigSpec

# joint -> ((sd x, sd y, sd z) radians, sign of a one-sided x rotation or 0), Anny's local rest axes.
ANNY_POSE_PRIOR = {
    "spine03": ((0.08, 0.08, 0.10), 0), "neck01": ((0.10, 0.08, 0.15), 0),
    "upperarm01.L": ((0.30, 0.20, 0.15), 0), "upperarm01.R": ((0.30, 0.20, 0.15), 0),
    "lowerarm01.L": ((0.40, 0.0, 0.0), -1), "lowerarm01.R": ((0.40, 0.0, 0.0), -1),
    "upperleg01.L": ((0.12, 0.04, 0.04), 0), "upperleg01.R": ((0.12, 0.04, 0.04), 0),
    "lowerleg01.L": ((0.15, 0.0, 0.0), 1), "lowerleg01.R": ((0.15, 0.0, 0.0), 1),
}
SMPL_POSE_PRIOR = {
    "spine2": ((0.08, 0.08, 0.08), 0), "neck": ((0.10, 0.10, 0.08), 0),
    "left_shoulder": ((0.15, 0.15, 0.20), 0), "right_shoulder": ((0.15, 0.15, 0.20), 0),
    "left_knee": ((0.15, 0.0, 0.0), 1), "right_knee": ((0.15, 0.0, 0.0), 1),
}
POSE_LIMIT_SD = 2.0
STEP_HZ_RANGE = (0.7, 1.1)
SOURCES = ("pose_prior", "walk", "file", "walkcycle")
WALKCYCLE_PREFIX = "walkcycle:"


class MotionSourceError(ValueError):
    """A motion source cannot serve this body (wrong model, unreadable file); the message says how to fix it."""


def sample_pose(rng: np.random.Generator, model: str, motion_files: tuple[str, ...] = ()) -> dict:
    """Draw the pose factor: {"source": ..., plus what realises it}."""
    if motion_files:
        k = int(rng.integers(len(motion_files)))
        spec, start = str(motion_files[k]), float(rng.random())
        if spec.startswith(WALKCYCLE_PREFIX):
            return {"source": "walkcycle", "name": spec[len(WALKCYCLE_PREFIX):], "start": start}
        return {"source": "file", "file": spec, "start": start}
    if model == "anny" and rng.random() < 0.5:
        return {"source": "walk", "step_hz": float(rng.uniform(*STEP_HZ_RANGE))}
    table = ANNY_POSE_PRIOR if model == "anny" else SMPL_POSE_PRIOR
    pose = {}
    for name, (sd, one_sided) in table.items():
        v = [float(truncated_normal(rng, 0.0, s, POSE_LIMIT_SD)) if s > 0 else 0.0 for s in sd]
        if one_sided:
            v[0] = one_sided * abs(v[0])
        pose[name] = v
    return {"source": "pose_prior", "pose": pose}


def motion_for(pose: dict, rig: RigSpec, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Realise a pose factor on ``rig``: rotvec (frames, J, 3) radians, transl (frames, 3) m, metadata."""
    source = pose.get("source")
    J = rig.num_joints
    if source == "pose_prior":
        rotvec = np.zeros((frames, J, 3))
        for name, v in pose["pose"].items():
            if name in rig.joint_names:
                rotvec[:, rig.joint_names.index(name)] = v
        spine = next((n for n in ("spine03", "spine2") if n in rig.joint_names), None)
        if spine is not None:
            rotvec[:, rig.joint_names.index(spine), 0] += 0.02 * np.sin(2 * np.pi * 0.25 * np.arange(frames) / fps)
        return rotvec, np.zeros((frames, 3)), {}
    if source == "walk":
        if rig.model != "anny":
            raise MotionSourceError(f"the walk source is Anny's; a {rig.model} body needs pose_prior or a file")
        from backend.demo.sample_motion import anny_walk_and_wave

        return anny_walk_and_wave(rig.joint_names, frames, fps, float(pose["step_hz"])), np.zeros((frames, 3)), {}
    if source == "file":
        return _file_motion(pose, rig, frames, fps)
    if source == "walkcycle":
        return _walkcycle_motion(pose, rig, frames, fps)
    raise MotionSourceError(f"unknown motion source {source!r}; choose from {list(SOURCES)}")


def _file_motion(pose: dict, rig: RigSpec, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    from blender_addon.core.motion import MotionError
    from blender_addon.core.readers import read_motion, remap_motion
    from blender_addon.core.resample import resample_motion

    path = pose["file"]
    try:
        motion: Motion = read_motion(path)
    except MotionError as exc:
        raise MotionSourceError(str(exc)) from exc
    if motion.model != rig.model:
        raise MotionSourceError(f"{path}: a {motion.model} motion cannot drive a {rig.model} body; pass a "
                                f"{rig.model} motion or use --model {motion.model}")
    motion = resample_motion(remap_motion(motion, rig.joint_names, model=motion.model), fps)
    start = int(float(pose.get("start", 0.0)) * max(motion.num_frames - 1, 0))
    idx = (start + np.arange(frames)) % motion.num_frames
    transl = motion.transl[idx] - motion.transl[idx[0]]
    meta = {k: motion.metadata[k] for k in ("world_axes",) if k in motion.metadata}
    return np.asarray(motion.rotvec[idx], np.float64), transl, meta


def check_walkcycle(spec: str, model: str) -> None:
    """``walkcycle:NAME`` names one of Anny's walk cycles and the body is Anny (else :class:`MotionSourceError`)."""
    from backend.generate.walkcycle import WalkcycleError, load_walkcycle

    if model != "anny":
        raise MotionSourceError(f"{spec}: Anny's walk cycles drive Anny bodies; use --model anny or a {model} motion")
    try:
        load_walkcycle(spec[len(WALKCYCLE_PREFIX):])
    except WalkcycleError as exc:
        raise MotionSourceError(f"{spec}: {exc}") from None


def _walkcycle_motion(pose: dict, rig: RigSpec, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, dict]:
    from backend.generate.walkcycle import leg_length, walkcycle_motion

    if rig.model != "anny":
        raise MotionSourceError(f"the walk cycles are Anny's; a {rig.model} body needs pose_prior or a file")
    leg = leg_length(list(rig.joint_names), rig.rest_joints)
    rotvec, transl = walkcycle_motion(pose["name"], rig.joint_names, leg, frames, fps, float(pose.get("start", 0.0)))
    return rotvec, _on_the_floor(rig, rotvec, transl), {"walkcycle": pose["name"]}


def _on_the_floor(rig: RigSpec, rotvec: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """``transl`` (F, 3) with its up coordinate moved so the lowest foot vertex of each frame is at the rest
    mesh's lowest height: a walk has a foot on the ground in every frame (the cycle was solved on the base body)."""
    from blender_addon.core.rotations import rotvec_to_matrix

    up = "XYZ".index(rig.up_axis)
    feet = [j for j, n in enumerate(rig.joint_names) if n.startswith(("foot", "toe"))]
    W = rig.skin_weights.astype(np.float64)
    v = np.flatnonzero(W[:, feet].sum(1) > 0.5)
    G, heads = rig.forward_kinematics(rotvec_to_matrix(rotvec), transl)
    offs = heads - np.einsum("fjab,jb->fja", G, rig.rest_joints)
    A = np.einsum("vj,fjab->fvab", W[v], G)
    posed = np.einsum("fvab,vb->fva", A, rig.template[v].astype(np.float64)) + np.einsum("vj,fja->fva", W[v], offs)
    out = np.array(transl, np.float64)
    out[:, up] -= posed[..., up].min(1) - float(rig.template[:, up].min())
    return out
