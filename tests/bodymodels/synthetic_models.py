"""SYNTHETIC SMPL-X / SMPL+H / SMPL / FLAME / MANO model files for tests (the real ones are licensed, never bundled).

The files have the released formats, key names and array shapes, so the real ``smplx`` classes load them, but
their content is made up: a coarse T-pose humanoid (or head, or hand) whose vertices sit on cylinders around the
bones with smooth skin weights, a joint regressor averaging the vertices nearest each joint, and smooth random
shape, expression and pose-corrective bases. Fixed RNG seed; writing all of them takes a few seconds.

    write_synthetic_models(folder)  -> {model: path}
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 1
KINTREE_ROOT = 4294967295  # what the released files store as the root's parent

# SMPL-X body + face joints (Y up, +Z forward, the model's left = +X), metres.
_BODY = {
    "pelvis": (0.0, 0.0, 0.0), "left_hip": (0.06, -0.09, 0.0), "spine1": (0.0, 0.11, -0.01),
    "left_knee": (0.10, -0.48, 0.01), "spine2": (0.0, 0.24, 0.0), "left_ankle": (0.09, -0.88, -0.03),
    "spine3": (0.0, 0.30, 0.01), "left_foot": (0.11, -0.94, 0.10), "neck": (0.0, 0.52, -0.02),
    "left_collar": (0.07, 0.42, -0.01), "head": (0.0, 0.60, 0.01), "left_shoulder": (0.17, 0.45, -0.02),
    "left_elbow": (0.43, 0.45, -0.03), "left_wrist": (0.68, 0.45, -0.02), "jaw": (0.0, 0.62, 0.04),
    "left_eye_smplhf": (0.03, 0.68, 0.08),
}
SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
                 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]
_FINGER_BASE = {"index": (0.09, 0.0, 0.025), "middle": (0.095, 0.0, 0.005), "pinky": (0.08, 0.0, -0.04),
                "ring": (0.09, 0.0, -0.018), "thumb": (0.03, -0.01, 0.035)}
_FINGER_STEP = {"index": (0.033, 0, 0), "middle": (0.036, 0, 0), "pinky": (0.024, 0, 0), "ring": (0.032, 0, 0),
                "thumb": (0.026, -0.004, 0.018)}
FINGERS = ("index", "middle", "pinky", "ring", "thumb")


def _mirror(p):
    return (-p[0], p[1], p[2])


def _hand(wrist: np.ndarray, side: float) -> list[np.ndarray]:
    out = []
    for f in FINGERS:
        base = np.array(_FINGER_BASE[f]) * (side, 1, 1)
        step = np.array(_FINGER_STEP[f]) * (side, 1, 1)
        out += [wrist + base + k * step for k in range(3)]
    return out


def smplx_joints() -> np.ndarray:
    """(55, 3) SMPL-X rest joints of the synthetic humanoid."""
    from smplx.joint_names import JOINT_NAMES

    pos = []
    for name in JOINT_NAMES[:25]:
        key = name.replace("right_", "left_")
        p = _BODY[key] if key in _BODY else _BODY[name]
        pos.append(_mirror(p) if name.startswith("right_") else p)
    pos = [np.array(p, dtype=np.float64) for p in pos]
    return np.array(pos + _hand(pos[20], 1.0) + _hand(pos[21], -1.0))


def skeleton(model: str, side: str = "right") -> tuple[np.ndarray, list[int]]:
    """Rest joints (J, 3) and parents (J,) of the synthetic ``model``."""
    j = smplx_joints()
    if model == "smplx":
        return j, list(SMPLX_PARENTS)
    if model == "smplh":
        idx = list(range(22)) + list(range(25, 55))
        remap = {old: new for new, old in enumerate(idx)}
        return j[idx], [-1] + [remap[SMPLX_PARENTS[i]] for i in idx[1:]]
    if model == "smpl":
        hands = np.array([j[20] + (0.08, 0, 0), j[21] + (-0.08, 0, 0)])
        return np.concatenate([j[:22], hands]), SMPLX_PARENTS[:22] + [20, 21]
    if model == "flame":
        pts = np.array([(0, -0.05, -0.02), (0, 0.0, -0.02), (0, 0.02, 0.03), (0.032, 0.045, 0.06),
                        (-0.032, 0.045, 0.06)], dtype=np.float64)
        return pts, [-1, 0, 1, 1, 1]
    if model == "mano":
        s = 1.0 if side == "right" else -1.0
        wrist = np.zeros(3)
        return np.array([wrist] + _hand(wrist, s)), [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
    raise ValueError(model)


SIZES = {  # vertices, faces, shape(+expression) components, radius scale
    "smplx": (10475, 20908, 400, 1.0), "smplh": (6890, 13776, 16, 1.0), "smpl": (6890, 13776, 10, 1.0),
    "flame": (5023, 9976, 400, 2.5), "mano": (778, 1538, 10, 1.0),
}


def _segments(joints: np.ndarray, parents: list[int]) -> tuple[np.ndarray, list[int]]:
    """Tail of each joint's segment (toward its best-aligned child; leaves extend the parent's direction)."""
    tails = np.empty_like(joints)
    children = [[k for k, p in enumerate(parents) if p == j] for j in range(len(parents))]
    main = []
    for j, ks in enumerate(children):
        p = parents[j]
        inc = joints[j] - joints[p] if p >= 0 else np.array([0.0, 1.0, 0.0])
        inc = inc / max(np.linalg.norm(inc), 1e-9)
        if ks:
            c = max(ks, key=lambda k: float((joints[k] - joints[j]) @ inc) / max(np.linalg.norm(joints[k] - joints[j]),
                                                                                  1e-9))
            tails[j] = joints[c]
            main.append(c)
        else:
            length = max(0.5 * np.linalg.norm(joints[j] - joints[p]), 0.02) if p >= 0 else 0.1
            tails[j] = joints[j] + length * inc
            main.append(-1)
    return tails, main


def make_mesh(model: str, joints: np.ndarray, parents: list[int], rng: np.random.Generator):
    """Vertices (V, 3), faces (F, 3), skin weights (V, J), joint regressor (J, V)."""
    V, F, _, rscale = SIZES[model]
    J = len(parents)
    tails, main = _segments(joints, parents)
    lengths = np.linalg.norm(tails - joints, axis=1)
    counts = np.maximum(8, np.floor(V * lengths / lengths.sum())).astype(int)
    counts[np.argmax(counts)] += V - counts.sum()
    bone = np.repeat(np.arange(J), counts)
    t = np.concatenate([(np.arange(n) + 0.5) / n for n in counts])
    theta = np.arange(V) * 2.399963  # golden angle: even coverage around each segment
    axis = tails - joints
    axis_n = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    ref = np.where((np.abs(axis_n[:, 2]) > 0.9)[:, None], [[1.0, 0, 0]], [[0, 0, 1.0]])
    u = np.cross(axis_n, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = np.cross(axis_n, u)
    radius = np.clip(0.22 * lengths, 0.006, 0.07) * rscale
    verts = (joints[bone] + t[:, None] * axis[bone]
             + radius[bone, None] * (np.cos(theta)[:, None] * u[bone] + np.sin(theta)[:, None] * w[bone]))
    verts += rng.normal(scale=0.0005, size=verts.shape)
    # Faces: a triangle strip along each segment, cycled to the released face count.
    faces = []
    start = 0
    for n in counts:
        i = np.arange(start, start + n - 3)
        faces += [np.stack([i, i + 1, i + 2], 1), np.stack([i, i + 2, i + 3], 1)]
        start += n
    faces = np.concatenate(faces)
    faces = faces[np.arange(F) % len(faces)].astype(np.int64)
    # Skin weights: the segment's joint, blending into the child near the tail and the parent near the head.
    weights = np.zeros((V, J))
    weights[np.arange(V), bone] = 1.0
    child = np.array(main)[bone]
    par = np.array(parents)[bone]
    tw = np.clip((t - 0.7) / 0.3, 0, 1) * 0.5 * (child >= 0)
    hw = np.clip((0.3 - t) / 0.3, 0, 1) * 0.5 * (par >= 0)
    weights[np.arange(V), bone] -= tw + hw
    np.add.at(weights, (np.arange(V), np.maximum(child, 0)), tw)
    np.add.at(weights, (np.arange(V), np.maximum(par, 0)), hw)
    # Joint regressor: mean of the 8 vertices nearest each joint.
    jreg = np.zeros((J, V))
    for j in range(J):
        near = np.argsort(np.linalg.norm(verts - joints[j], axis=1))[:8]
        jreg[j, near] = 1.0 / 8
    return verts, faces, weights, jreg


def _smooth_basis(verts: np.ndarray, K: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, K) smooth random displacement fields of size ~scale metres."""
    n_feat = 6
    freq = rng.normal(scale=4.0, size=(3, n_feat))
    feats = np.sin(verts @ freq + rng.uniform(0, np.pi, size=n_feat))  # (V, n_feat)
    mix = rng.normal(size=(n_feat, 3 * K)) * scale / np.sqrt(n_feat)
    return (feats @ mix).reshape(len(verts), 3, K).astype(np.float32)


def model_arrays(model: str, side: str = "right", seed: int = 0) -> dict:
    """Every array the released file of ``model`` has (and smplx reads), synthetic."""
    rng = np.random.default_rng(seed)
    joints, parents = skeleton(model, side)
    verts, faces, weights, jreg = make_mesh(model, joints, parents, rng)
    J = len(parents)
    K = SIZES[model][2]
    shapedirs = _smooth_basis(verts, K, 0.01, rng)
    shapedirs[:, 1, 0] += (verts[:, 1] * 0.05).astype(np.float32)  # beta0: taller
    posedirs = _smooth_basis(verts, 9 * (J - 1), 0.002, rng)
    kintree = np.array([[KINTREE_ROOT] + parents[1:], list(range(J))], dtype=np.int64)
    data = {"v_template": verts, "f": faces.astype(np.uint32), "J_regressor": jreg, "weights": weights,
            "kintree_table": kintree, "shapedirs": shapedirs, "posedirs": posedirs}
    if model in ("smplx", "smplh"):
        for s in ("l", "r"):
            q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
            data[f"hands_components{s}"] = q
            data[f"hands_mean{s}"] = rng.normal(scale=0.1, size=45)
            data[f"hands_coeffs{s}"] = rng.normal(size=(100, 45))
    if model == "mano":
        q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
        data["hands_components"], data["hands_mean"] = q, rng.normal(scale=0.1, size=45)
        data["hands_coeffs"] = rng.normal(size=(100, 45))
    if model == "smplx":
        F = len(faces)
        data["lmk_faces_idx"] = rng.integers(0, F, size=51).astype(np.int64)
        data["lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=51)
        data["dynamic_lmk_faces_idx"] = rng.integers(0, F, size=(79, 17)).astype(np.int64)
        data["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), size=(79, 17))
        data["vt"] = rng.uniform(size=(len(verts) + 838, 2))
        data["ft"] = rng.integers(0, len(verts) + 838, size=(F, 3)).astype(np.uint32)
    return data


def _write_pkl(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    tmp.replace(path)


def _write_npz(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, **data)
    tmp.replace(path)


def write_synthetic_models(folder: str | Path, models=("smplx", "smplh", "smpl", "flame", "mano")) -> dict:
    """Write synthetic model files with the released names into ``folder``; returns {name: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    if "smplx" in models:
        out["smplx"] = folder / "SMPLX_NEUTRAL.npz"
        _write_npz(out["smplx"], model_arrays("smplx"))
    if "smplh" in models:
        out["smplh"] = folder / "SMPLH_NEUTRAL.pkl"
        _write_pkl(out["smplh"], model_arrays("smplh"))
    if "smpl" in models:
        out["smpl"] = folder / "SMPL_NEUTRAL.pkl"
        _write_pkl(out["smpl"], model_arrays("smpl"))
    if "flame" in models:
        data = model_arrays("flame")
        out["flame"] = folder / "FLAME_NEUTRAL.pkl"
        _write_pkl(out["flame"], data)
        rng = np.random.default_rng(1)
        _write_pkl(folder / "flame_static_embedding.pkl",
                   {"lmk_face_idx": rng.integers(0, len(data["f"]), size=51).astype(np.uint32),
                    "lmk_b_coords": rng.dirichlet(np.ones(3), size=51)})
    if "mano" in models:
        out["mano"] = folder / "MANO_RIGHT.pkl"
        _write_pkl(out["mano"], model_arrays("mano", "right"))
        _write_pkl(folder / "MANO_LEFT.pkl", model_arrays("mano", "left"))
    (folder / "SYNTHETIC_MODELS_README.txt").write_text(
        "Synthetic test models with the released formats; NOT the real SMPL-X/FLAME/MANO models.\n")
    return out
