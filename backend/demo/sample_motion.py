"""A built-in procedural motion for Anny (walk in place, arm swing, a wave) and the camera that films it.

Rotations follow :mod:`blender_addon.core.rigspec`: local, axis-angle in Anny's rest axes (Z up, the body facing
-Y, +X on the body's left).
"""

from __future__ import annotations

import numpy as np

from blender_addon.core.motion import Camera, Motion

# joint name -> (axis, amplitude rad, phase rad, offset rad, rectified); rotation = offset + amp * f(w t + phase)
_WALK = {
    "upperleg01.L": ("x", -0.45, 0.0, 0.0, False),
    "upperleg01.R": ("x", 0.45, 0.0, 0.0, False),
    "lowerleg01.L": ("x", 0.7, 0.6, 0.0, True),
    "lowerleg01.R": ("x", 0.7, 0.6 + np.pi, 0.0, True),
    "upperarm01.L": ("x", 0.35, 0.0, 0.0, False),
    "lowerarm01.L": ("x", -0.3, 0.0, -0.25, True),
    "spine03": ("z", 0.12, 0.0, 0.0, False),
    "neck01": ("z", -0.1, 0.0, 0.0, False),
}
_AXES = {"x": 0, "y": 1, "z": 2}


def anny_walk_and_wave(joint_names: tuple[str, ...], frames: int = 90, fps: float = 30.0,
                       step_hz: float = 0.9) -> np.ndarray:
    """(frames, J, 3) axis-angle rotations: walking in place with the right arm waving in the second half."""
    index = {name: i for i, name in enumerate(joint_names)}
    t = np.arange(frames) / fps
    phase = 2 * np.pi * step_hz * t
    rotvec = np.zeros((frames, len(joint_names), 3))
    for name, (axis, amp, ph, offset, rectified) in _WALK.items():
        if name not in index:
            continue
        wave = np.sin(phase + ph)
        rotvec[:, index[name], _AXES[axis]] = offset + amp * (np.maximum(wave, 0.0) if rectified else wave)
    # Right arm: swings with the walk, then rises and waves (abduction about +Y, elbow flexing).
    raise_amt = np.clip((t - t[-1] * 0.4) / 0.5, 0.0, 1.0)
    if "upperarm01.R" in index:
        rotvec[:, index["upperarm01.R"], 0] = -0.35 * np.sin(phase) * (1 - raise_amt)
        rotvec[:, index["upperarm01.R"], 1] = 1.35 * raise_amt
    if "lowerarm01.R" in index:
        rotvec[:, index["lowerarm01.R"], 1] = raise_amt * (0.5 + 0.35 * np.sin(2 * np.pi * 1.5 * t))
    return rotvec


def front_camera(frames: int, width: int, height: int, distance: float = 2.7, height_m: float = 0.0,
                 focal_px: float | None = None) -> Camera:
    """A static camera on the -Y side looking at the origin along +Y (OpenCV axes: x right, y down, z forward)."""
    f = focal_px if focal_px is not None else 1.2 * max(width, height)
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    centre = np.array([0.0, -distance, height_m])
    t = -R @ centre
    return Camera(K=np.tile(K, (frames, 1, 1)), R=np.tile(R, (frames, 1, 1)), t=np.tile(t, (frames, 1)),
                  image_size=(width, height))


def sample_motion(joint_names: tuple[str, ...], frames: int = 90, fps: float = 30.0, width: int = 512,
                  height: int = 512) -> Motion:
    """The demo's ground-truth Anny motion with its camera (the person bobs slightly while walking in place)."""
    rotvec = anny_walk_and_wave(joint_names, frames, fps)
    t = np.arange(frames) / fps
    transl = np.stack([0.05 * np.sin(2 * np.pi * 0.3 * t), np.zeros(frames),
                       0.02 * np.abs(np.sin(2 * np.pi * 0.9 * t))], axis=1)
    # Turn slowly from a three-quarter view towards the camera so the walk is visible in depth.
    rotvec[:, 0, 2] = 0.5 * np.cos(np.pi * t / max(t[-1], 1e-6))
    return Motion(model="anny", fps=fps, joint_names=tuple(joint_names), rotvec=rotvec, transl=transl,
                  up_axis="Z", camera=front_camera(frames, width, height), confidence=np.ones(frames),
                  metadata={"source": "built-in procedural motion (walk in place and wave)"})
