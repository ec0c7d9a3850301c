"""A known motion of a body model seen by a known camera, turned into detections (Keypoints), for tests."""

from __future__ import annotations

import numpy as np
import torch

from backend.fitting.correspondences import body_correspondences, find_joint, hand_correspondences, model_axes
from backend.perception.keypoints import Keypoints, empty_keypoints


def known_motion(model, rig, frames: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth motion: rotvec (F, J, 3), transl (F, 3): arms swinging, one knee bending, the body turning."""
    rng = np.random.default_rng(seed)
    names = list(rig.joint_names)
    _, up, _ = model_axes(rig)
    left, _, fwd = model_axes(rig)
    t = np.linspace(0, 1, frames)
    rv = np.zeros((frames, rig.num_joints, 3))
    rv[:, 0] = up[None] * (0.6 * t + 0.2 * rng.random())[:, None]
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sh = find_joint(names, ("upperarm01{a}", "{s}_shoulder"), side)
        el = find_joint(names, ("lowerarm01{a}", "{s}_elbow"), side)
        kn = find_joint(names, ("lowerleg01{a}", "{s}_knee"), side)
        hip = find_joint(names, ("upperleg01{a}", "{s}_hip"), side)
        rv[:, sh] = fwd[None] * (sgn * (0.3 + 0.5 * np.sin(2 * np.pi * t)))[:, None]
        rv[:, el] = left[None] * (0.4 + 0.4 * t)[:, None] * sgn
        if side == "left":
            rv[:, kn] = left[None] * (0.8 * np.sin(np.pi * t))[:, None]
            rv[:, hip] = -left[None] * (0.5 * np.sin(np.pi * t))[:, None]
    transl = np.zeros((frames, 3))
    transl += left[None] * (0.3 * t)[:, None]
    return rv, transl


def camera(rig, width: int = 1280, height: int = 720, distance: float = 4.0):
    left, up, fwd = model_axes(rig)
    R = np.stack([left, -up, -fwd])
    t = np.array([0.0, 0.0, distance])
    f = 0.9 * max(width, height)
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    return K, R, t


def detections(model, rig, rotvec, transl, K, R, t, size=(1280, 720), fps: float = 30.0,
               noise_px: float = 0.0, seed: int = 0, shape: np.ndarray | None = None) -> tuple[Keypoints, np.ndarray]:
    """Keypoints a perfect detector would report for the motion (MediaPipe layouts) of the body ``shape`` (S,)
    (None: the model's own), and the true joints (F, J, 3) in world coordinates."""
    rng = np.random.default_rng(seed)
    F = rotvec.shape[0]
    sh = None if shape is None else torch.as_tensor(np.asarray(shape), dtype=torch.float32)[None].expand(F, -1)
    with torch.no_grad():
        out = model(torch.as_tensor(rotvec, dtype=torch.float32), torch.as_tensor(transl, dtype=torch.float32),
                    shape=sh)
    joints, verts = out.joints.numpy().astype(np.float64), out.vertices.numpy().astype(np.float64)
    arr = empty_keypoints(F, fps, size, (0, 0))
    arr["frame_indices"] = np.arange(F)
    arr["found"][:] = True

    def fill(key: str, corr):
        pts = np.where((corr.joint >= 0)[None, :, None], joints[:, np.maximum(corr.joint, 0)],
                       verts[:, np.maximum(corr.vertex, 0)])
        cam = pts @ R.T + t
        uv = cam[..., :2] / cam[..., 2:] * K[0, 0] + K[:2, 2] + rng.normal(0, noise_px, cam[..., :2].shape)
        arr[key][:, corr.source_index, :2] = uv
        arr[key][:, corr.source_index, 2] = 1.0
        return cam

    body = body_correspondences(rig)
    cam = fill("body", body)
    idx = {int(s): i for i, s in enumerate(body.source_index)}
    hips = (cam[:, idx[23]] + cam[:, idx[24]]) / 2
    arr["body_world"][:, body.source_index] = cam - hips[:, None]
    fill("left_hand", hand_correspondences(rig, "left"))
    fill("right_hand", hand_correspondences(rig, "right"))
    uv = arr["body"][..., :2][:, body.source_index]
    arr["bbox"] = np.concatenate([uv.min(1), uv.max(1)], 1)
    return Keypoints(fps=fps, image_size=size, source="synthetic", **arr), joints
