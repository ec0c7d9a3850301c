"""Rest frames and display tails of bones from joint positions (numpy), for models that define none (SMPL family).

A bone's frame has its y axis from head to tail (Blender's convention), its z axis as close as possible to the
model's forward axis (so limbs and spine roll consistently), and x = y cross z.
"""

from __future__ import annotations

import numpy as np

_AXES = {"X": np.array([1.0, 0.0, 0.0]), "Y": np.array([0.0, 1.0, 0.0]), "Z": np.array([0.0, 0.0, 1.0])}


def children_of(parents: np.ndarray) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            kids[int(p)].append(j)
    return kids


def main_children(joints: np.ndarray, parents: np.ndarray, up_axis: str = "Y") -> list[int]:
    """For each joint, the child its bone points to (-1 for leaves): the child best aligned with the direction
    the chain arrives from (the up axis at the root), e.g. spine over hips, neck over collars, middle finger."""
    kids = children_of(parents)
    out = []
    for j, ks in enumerate(kids):
        if not ks:
            out.append(-1)
            continue
        p = int(parents[j])
        incoming = joints[j] - joints[p] if p >= 0 else _AXES[up_axis]
        n = np.linalg.norm(incoming)
        incoming = incoming / n if n > 1e-9 else _AXES[up_axis]
        scores = []
        for k in ks:
            d = joints[k] - joints[j]
            dn = np.linalg.norm(d)
            scores.append(-2.0 if dn < 1e-9 else float(d @ incoming) / dn)
        out.append(ks[int(np.argmax(scores))])
    return out


def bone_tails(joints: np.ndarray, parents: np.ndarray, up_axis: str = "Y", min_length: float = 0.01
               ) -> np.ndarray:
    """(J, 3) tails: at the main child; leaves extend their parent's direction by half the parent's length."""
    joints = np.asarray(joints, dtype=np.float64)
    main = main_children(joints, parents, up_axis)
    tails = np.empty_like(joints)
    for j in range(len(joints)):  # parents come first, so a leaf's parent tail is known
        c = main[j]
        if c >= 0 and np.linalg.norm(joints[c] - joints[j]) >= min_length:
            tails[j] = joints[c]
            continue
        p = int(parents[j])
        if p >= 0:
            d = tails[p] - joints[p]
            length = max(0.5 * np.linalg.norm(d), min_length)
            d = d / max(np.linalg.norm(d), 1e-12)
        else:
            d, length = _AXES[up_axis], 0.1
        tails[j] = joints[j] + length * d
    return tails


def frames_from_tails(heads: np.ndarray, tails: np.ndarray, forward_axis: str = "Z", up_axis: str = "Y"
                      ) -> np.ndarray:
    """(J, 3, 3) rotation matrices (columns x, y, z): y along head->tail, z toward ``forward_axis`` (or the up
    axis when the bone points forward)."""
    y = tails - heads
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    fwd, up = _AXES[forward_axis], _AXES[up_axis]
    ref = np.where((np.abs(y @ fwd) > 0.95)[:, None], up[None], fwd[None])
    z = ref - (ref * y).sum(1, keepdims=True) * y
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=2)


def rest_frames(joints: np.ndarray, parents: np.ndarray, up_axis: str = "Y", forward_axis: str = "Z"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Bone rest frames (J, 3, 3) and tails (J, 3) for joints (J, 3) in metres."""
    tails = bone_tails(joints, parents, up_axis)
    return frames_from_tails(np.asarray(joints, np.float64), tails, forward_axis, up_axis), tails
