"""Which body-model joint or vertex each MediaPipe landmark corresponds to (see docs/correspondences.md).

Joints are looked up by name (Anny bone names first, then SMPL-family names). Landmarks on the surface (nose, ears,
heels, toe tips, fingertips) are picked on the model's rest mesh by geometric rules, so every model with a
skinned mesh and named joints gets them without a hand-made vertex table.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from blender_addon.core.rigspec import RigSpec

_AXES = {"Y": np.array([0.0, 1.0, 0.0]), "Z": np.array([0.0, 0.0, 1.0])}

# MediaPipe pose index -> (candidate joint names, weight). L/R are the person's sides.
BODY_JOINTS: dict[int, tuple[tuple[str, ...], float]] = {
    2: (("eye.L", "left_eye_smplhf", "left_eye"), 0.5),
    5: (("eye.R", "right_eye_smplhf", "right_eye"), 0.5),
    11: (("upperarm01.L", "left_shoulder"), 1.0),
    12: (("upperarm01.R", "right_shoulder"), 1.0),
    13: (("lowerarm01.L", "left_elbow"), 1.0),
    14: (("lowerarm01.R", "right_elbow"), 1.0),
    15: (("wrist.L", "left_wrist"), 1.0),
    16: (("wrist.R", "right_wrist"), 1.0),
    17: (("finger5-1.L", "left_pinky1"), 0.3),
    18: (("finger5-1.R", "right_pinky1"), 0.3),
    19: (("finger2-1.L", "left_index1"), 0.3),
    20: (("finger2-1.R", "right_index1"), 0.3),
    23: (("upperleg01.L", "left_hip"), 1.0),
    24: (("upperleg01.R", "right_hip"), 1.0),
    25: (("lowerleg01.L", "left_knee"), 1.0),
    26: (("lowerleg01.R", "right_knee"), 1.0),
    27: (("foot.L", "left_ankle"), 1.0),
    28: (("foot.R", "right_ankle"), 1.0),
}
# MediaPipe pose index -> (surface rule, weight); rules are resolved by pick_surface_points.
BODY_SURFACE: dict[int, tuple[str, float]] = {
    0: ("nose", 0.5), 7: ("ear.L", 0.3), 8: ("ear.R", 0.3),
    29: ("heel.L", 0.8), 30: ("heel.R", 0.8), 31: ("toe.L", 0.8), 32: ("toe.R", 0.8),
}
# MediaPipe hand index -> candidate joint names with "{s}" = side: Anny ".L"/".R", SMPL "left"/"right".
_FINGERS = (("finger1", "thumb"), ("finger2", "index"), ("finger3", "middle"), ("finger4", "ring"),
            ("finger5", "pinky"))
HAND_JOINTS: dict[int, tuple[str, ...]] = {0: ("wrist{a}", "{s}_wrist", "wrist")}
for _f, (_anny, _smpl) in enumerate(_FINGERS):
    for _k in range(3):
        HAND_JOINTS[1 + 4 * _f + _k] = (f"{_anny}-{_k + 1}{{a}}", f"{{s}}_{_smpl}{_k + 1}", f"{_smpl}{_k + 1}")
HAND_TIPS = {4 + 4 * _f: _f for _f in range(5)}  # MediaPipe fingertip index -> finger number
# Bone-direction pairs on MediaPipe pose indices (3D constraints from the metric world landmarks).
BODY_BONES = ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28), (27, 31), (28, 32),
              (11, 12), (23, 24), (23, 11), (24, 12), (29, 31), (30, 32))


# Face-only fits (FLAME): points derived from the 468 face-mesh landmarks (mean of the listed indices).
FACE_POINTS = (
    ("nose", (1,)),  # nose tip
    ("eye.L", (362, 263, 386, 374)),  # the person's left eye: corners and lid middles
    ("eye.R", (33, 133, 159, 145)),
    ("chin", (152,)),
    ("forehead", (10,)),
)


def face_points(face: np.ndarray) -> np.ndarray:
    """(F, 468, 3) face-mesh detections -> (F, len(FACE_POINTS), 3) derived points (x, y, min confidence)."""
    out = np.zeros(face.shape[:1] + (len(FACE_POINTS), 3), np.float32)
    for k, (_, idx) in enumerate(FACE_POINTS):
        out[:, k, :2] = face[:, list(idx), :2].mean(1)
        out[:, k, 2] = face[:, list(idx), 2].min(1)
    return out

# Segment-direction pairs on MediaPipe hand indices (wrist to each finger base, then along each finger).
HAND_BONES = tuple((0, 1 + 4 * f) for f in range(5)) + tuple((1 + 4 * f + k, 2 + 4 * f + k) for f in range(5)
                                                             for k in range(3))


@dataclasses.dataclass(frozen=True)
class Correspondences:
    """L landmarks of one source: source index -> model joint (index) or rest-mesh vertex (index)."""

    source: str  # "body", "left_hand", "right_hand"
    source_index: np.ndarray  # (L,) indices into the MediaPipe landmark array
    joint: np.ndarray  # (L,) model joint index, or -1 for a surface point
    vertex: np.ndarray  # (L,) rest-mesh vertex index, or -1 for a joint
    weight: np.ndarray  # (L,) relative weight
    names: tuple[str, ...]  # (L,) model joint names or surface rule names


def model_axes(rig: RigSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit (left, up, forward) vectors of the model's rest pose in model coordinates (person's left)."""
    up = _AXES[rig.up_axis]
    names = list(rig.joint_names)
    left_j = find_joint(names, ("upperarm01.L", "left_shoulder", "upperleg01.L", "left_hip"))
    right_j = find_joint(names, ("upperarm01.R", "right_shoulder", "upperleg01.R", "right_hip"))
    if left_j < 0 or right_j < 0:
        return np.array([1.0, 0, 0]), up, np.cross(np.array([1.0, 0, 0]), up)
    lr = rig.rest_joints[left_j] - rig.rest_joints[right_j]
    lr = lr - up * (lr @ up)
    left = lr / np.linalg.norm(lr)
    forward = np.cross(left, up)
    return left, up, forward


def find_joint(names: list[str], candidates: tuple[str, ...], side: str = "") -> int:
    anny = {"left": ".L", "right": ".R"}.get(side, "")
    for c in candidates:
        name = c.format(a=anny, s=side)
        if name in names:
            return names.index(name)
    return -1


def _descendants(parents: np.ndarray, root: int) -> np.ndarray:
    keep = np.zeros(len(parents), bool)
    keep[root] = True
    for j in range(len(parents)):
        if parents[j] >= 0 and keep[parents[j]]:
            keep[j] = True
    return keep


def pick_surface_points(rig: RigSpec) -> dict[str, int]:
    """Rest-mesh vertex index per surface rule (nose, ear.L/R, heel.L/R, toe.L/R, tip{finger}.L/R)."""
    names = list(rig.joint_names)
    left, up, fwd = model_axes(rig)
    v = rig.template
    owner = np.argmax(rig.skin_weights, axis=1)
    out: dict[str, int] = {}

    def verts_of(joint: int) -> np.ndarray:
        return np.nonzero(_descendants(rig.parents, joint)[owner])[0]

    head = find_joint(names, ("head", "neck"))
    if head >= 0:
        hv = verts_of(head)
        eyes = [find_joint(names, ("eye.L", "left_eye_smplhf")), find_joint(names, ("eye.R", "right_eye_smplhf"))]
        eye_mid = rig.rest_joints[[e for e in eyes if e >= 0]].mean(0) if max(eyes) >= 0 else rig.rest_joints[head]
        centre = rig.rest_joints[head]
        mid = hv[np.abs((v[hv] - centre) @ left) < 0.012]
        if len(mid):
            out["nose"] = int(mid[np.argmax(v[mid] @ fwd)])
        level = hv[np.abs((v[hv] - eye_mid) @ up) < 0.03]
        if len(level):
            out["ear.L"] = int(level[np.argmax(v[level] @ left)])
            out["ear.R"] = int(level[np.argmin(v[level] @ left)])
        if len(mid) and "nose" in out:
            nose = v[out["nose"]]
            gap = max(float((eye_mid - nose) @ up), 0.01)
            front = mid[(v[mid] - nose) @ fwd > -0.05]  # the face side of the midline
            if len(front):
                out["chin"] = int(front[np.argmin(v[front] @ up)])
                top = front[np.abs((v[front] - eye_mid) @ up - 2.2 * gap) < 0.015]
                if len(top):
                    out["forehead"] = int(top[np.argmax(v[top] @ fwd)])
    for side, tag in (("left", "L"), ("right", "R")):
        foot = find_joint(names, ("foot{a}", "{s}_ankle"), side)
        if foot >= 0:
            fv = verts_of(foot)
            ankle = rig.rest_joints[foot]
            low = fv[(v[fv] - ankle) @ up < -0.03]
            if len(low):
                out[f"heel.{tag}"] = int(low[np.argmin(v[low] @ fwd)])
                out[f"toe.{tag}"] = int(low[np.argmax(v[low] @ fwd)])
        for f in range(5):
            last = find_joint(names, HAND_JOINTS[4 * f + 3], side)
            if last < 0:
                continue
            tv = np.nonzero(owner == last)[0]
            if not len(tv):
                continue
            d = rig.rest_joints[last] - rig.rest_joints[rig.parents[last]]
            out[f"tip{f}.{tag}"] = int(tv[np.argmax((v[tv] - rig.rest_joints[last]) @ d)])
    return out


def _build(source: str, items: list[tuple[int, int, int, float, str]]) -> Correspondences:
    arr = np.array([i[:3] for i in items], np.int64).reshape(-1, 3)
    return Correspondences(source, arr[:, 0], arr[:, 1], arr[:, 2], np.array([i[3] for i in items], np.float32),
                           tuple(i[4] for i in items))


def body_correspondences(rig: RigSpec, surface: dict[str, int] | None = None) -> Correspondences:
    """MediaPipe pose (33) -> model. Landmarks the model lacks are left out."""
    names = list(rig.joint_names)
    surface = pick_surface_points(rig) if surface is None else surface
    items = []
    for idx, (cands, w) in BODY_JOINTS.items():
        j = find_joint(names, cands)
        if j >= 0:
            items.append((idx, j, -1, w, names[j]))
    for idx, (rule, w) in BODY_SURFACE.items():
        if rule in surface:
            items.append((idx, -1, surface[rule], w, rule))
    items.sort()
    return _build("body", items)


def hand_correspondences(rig: RigSpec, side: str, surface: dict[str, int] | None = None) -> Correspondences:
    """MediaPipe hand (21) of the person's ``side`` ('left' | 'right') -> model joints and fingertip vertices."""
    names = list(rig.joint_names)
    surface = pick_surface_points(rig) if surface is None else surface
    tag = "L" if side == "left" else "R"
    items = []
    for idx, cands in HAND_JOINTS.items():
        j = find_joint(names, cands, side)
        if j >= 0:
            items.append((idx, j, -1, 1.0, names[j]))
    for idx, f in HAND_TIPS.items():
        rule = f"tip{f}.{tag}"
        if rule in surface:
            items.append((idx, -1, surface[rule], 1.0, rule))
    items.sort()
    return _build(f"{side}_hand", items)


def face_correspondences(rig: RigSpec, surface: dict[str, int] | None = None) -> Correspondences:
    """FACE_POINTS (derived from the face mesh) -> model eye joints and surface points (nose, chin, forehead)."""
    names = list(rig.joint_names)
    surface = pick_surface_points(rig) if surface is None else surface
    items = []
    for k, (rule, _) in enumerate(FACE_POINTS):
        if rule.startswith("eye."):
            j = find_joint(names, ("eye.L", "left_eye_smplhf", "left_eye") if rule == "eye.L"
                           else ("eye.R", "right_eye_smplhf", "right_eye"))
            if j >= 0:
                items.append((k, j, -1, 1.0, names[j]))
        elif rule in surface:
            items.append((k, -1, surface[rule], 1.0, rule))
    return _build("face_points", items)
