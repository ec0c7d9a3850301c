"""Retargeting maths (bpy-free): a source body's animation -> pose-bone channels of another humanoid skeleton.

Everything is in one world frame (Blender world: metres, Z up). A skeleton is its rest pose in that frame; an
animation is per-frame world rotations and head positions of the source's bones (what Blender evaluates, or the
RigSpec's forward kinematics). The recipe (:func:`retarget`):

1. ``facing_rotation``: Q turns the target's rest frame (left, up, forward from hips, thighs and head) onto the
   source's, so rigs facing +Y or -Y both work.
2. ``rest_alignment``: per driven bone, the rotation A taking the target's rest segment direction (this bone's head
   to its chain child's head, e.g. shoulder -> elbow) onto the source's: T-pose vs A-pose and bone-roll
   differences vanish, because only world-space *changes* of the source bones are copied.
3. ``driven_rotations``: W_t = Q^T S D_s A Q R_t, with D_s the source bone's world rotation relative to its rest and
   S the swing that makes the segment point exactly where the source's segment points.
4. ``root_motion``: the hips' head follows the source's pelvis scaled by the leg-length ratio, its height taken
   above each side's standing ankle level and its travel from the first frame; ``in_place`` drops the horizontal
   part, ``object`` moves it onto the object.
5. ``lock_feet``: while a foot is in contact (the motion's ``foot_contact`` or heights), the ankle is pinned to
   its mean position in that contact and the thigh/shin solved by two-bone IK; eased over a few frames outside.
6. ``basis_channels``: world rotations -> Blender pose-bone quaternions (R_rest^T R_prest W_p^T W) and hips location.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .rotations import matrix_to_quat, quat_continuity

UP = np.array([0.0, 0.0, 1.0])
ROOT_MODES = ("root_bone", "in_place", "object")


class RetargetError(ValueError):
    """Inputs to the retarget do not fit together; the message says what to fix."""


@dataclasses.dataclass(frozen=True, eq=False)
class Skeleton:
    """A rest pose in world space. J bones.

    names (J,); parents (J,) int, -1 for roots, parents first; heads, tails (J, 3) metres; rest_rot (J, 3, 3)
    world rest orientation (columns: bone x, y (head -> tail), z); unit: metres per armature unit (object scale).
    """

    names: tuple[str, ...]
    parents: np.ndarray
    heads: np.ndarray
    tails: np.ndarray
    rest_rot: np.ndarray
    unit: float = 1.0

    def index(self, name: str) -> int:
        return self.names.index(name)


@dataclasses.dataclass(frozen=True)
class RetargetOptions:
    root_motion: str = "root_bone"  # "root_bone" | "in_place" | "object"
    scale: float | None = None  # target/source size ratio; None: leg-length ratio
    foot_lock: bool = True
    lock_blend: int = 4  # frames eased in/out around each contact
    contact_height: float = 0.04  # contact fallback: ankle within this fraction of leg length of its lowest


@dataclasses.dataclass(frozen=True, eq=False)
class RetargetResult:
    """quats (F, J, 4) pose-bone rotations (w, x, y, z) for every target bone; hips_location (F, 3) pose location
    of the hips bone (armature units, its rest frame); object_offset (F, 3) world metres or None; world_rot
    (F, J, 3, 3) and heads (F, J, 3) the posed target in world space; scale used; contacts (F, 2)."""

    quats: np.ndarray
    hips_location: np.ndarray
    object_offset: np.ndarray | None
    world_rot: np.ndarray
    heads: np.ndarray
    scale: float
    contacts: np.ndarray


# -- small rotation helpers --------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) minimal rotations taking directions a (..., 3) onto b (..., 3)."""
    a, b = _unit(np.asarray(a, float)), _unit(np.asarray(b, float))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)[..., None, None]
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 0] = -v[..., 2], v[..., 1], v[..., 2]
    k[..., 1, 2], k[..., 2, 0], k[..., 2, 1] = -v[..., 0], -v[..., 1], v[..., 0]
    out = np.eye(3) + k + (k @ k) / np.maximum(1.0 + c, 1e-9)
    opposite = c[..., 0, 0] < -0.999999  # 180 degrees: turn about any axis perpendicular to a
    if np.any(opposite):
        ax = _unit(np.cross(a[opposite], np.where(np.abs(a[opposite][:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])))
        out[opposite] = 2 * ax[:, :, None] * ax[:, None, :] - np.eye(3)
    return out


def _orthonormal(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    return r * np.where(np.linalg.det(r) < 0, -1.0, 1.0)[..., None, None]


# -- the recipe --------------------------------------------------------------------------------------------------
def facing_frame(heads: dict) -> np.ndarray:
    """(3, 3) body frame (columns left, up, forward) from role -> head position: left from every left/right pair of
    thighs, shins, feet, upper arms and shoulders (robust to one pair lying near the midline), up from hips to head."""
    left = sum(heads[f"{r}.L"] - heads[f"{r}.R"] for r in ("thigh", "shin", "foot", "upper_arm", "shoulder")
               if f"{r}.L" in heads and f"{r}.R" in heads)
    up = heads.get("head", heads.get("neck", heads["hips"] + UP)) - heads["hips"]
    left = _unit(left - up * (left @ up) / (up @ up))
    up = _unit(up)
    return np.stack([left, up, np.cross(left, up)], axis=1)


def _role_heads(skel: Skeleton, pairs, side: int) -> dict:
    return {p[0]: skel.heads[skel.index(p[side])] for p in pairs}


def facing_rotation(src: Skeleton, tgt: Skeleton, pairs) -> np.ndarray:
    """Q (3, 3): target rest world -> source rest world, about the bodies' frames."""
    need = {"hips", "thigh.L", "thigh.R"}
    roles = {p[0] for p in pairs}
    if not need <= roles:
        return np.eye(3)
    return facing_frame(_role_heads(src, pairs, 1)) @ facing_frame(_role_heads(tgt, pairs, 2)).T


def segment_children(pairs) -> dict:
    """role -> chain child role that both sides have (the segment that defines the bone's direction)."""
    from .bone_maps import CHAIN_CHILD

    roles = {p[0] for p in pairs}
    out = {}
    for r in roles:
        child = CHAIN_CHILD.get(r)
        while child is not None and child not in roles:
            child = CHAIN_CHILD.get(child)
        if child is not None:
            out[r] = child
    return out


def rest_alignment(src: Skeleton, tgt: Skeleton, pairs, Q: np.ndarray, children: dict) -> np.ndarray:
    """(P, 3, 3) per pair: A taking the target's rest segment direction (turned by Q) onto the source's."""
    by_role = {p[0]: p for p in pairs}
    d_s, d_t = [], []
    for role, s, t in pairs:
        i, j = src.index(s), tgt.index(t)
        if role in children:
            c = by_role[children[role]]
            d_s.append(src.heads[src.index(c[1])] - src.heads[i])
            d_t.append(tgt.heads[tgt.index(c[2])] - tgt.heads[j])
        else:
            d_s.append(src.tails[i] - src.heads[i])
            d_t.append(tgt.tails[j] - tgt.heads[j])
    return swing(np.asarray(d_t) @ Q.T, np.asarray(d_s))


def leg_length(skel: Skeleton, pairs, side: int) -> float:
    """Mean thigh -> shin -> foot length (metres) of a skeleton, from the paired bones."""
    h = _role_heads(skel, pairs, side)
    lengths = [np.linalg.norm(h[f"shin{s}"] - h[f"thigh{s}"]) + np.linalg.norm(h[f"foot{s}"] - h[f"shin{s}"])
               for s in (".L", ".R") if all(f"{r}{s}" in h for r in ("thigh", "shin", "foot"))]
    if not lengths:
        raise RetargetError("cannot size the target: no thigh/shin/foot bones are paired; pass a scale")
    return float(np.mean(lengths))


def driven_rotations(src: Skeleton, tgt: Skeleton, pairs, src_rot: np.ndarray, src_heads: np.ndarray,
                     Q: np.ndarray, A: np.ndarray, children: dict) -> np.ndarray:
    """(F, P, 3, 3) target world rotations of the paired bones.

    src_rot (F, Js, 3, 3) and src_heads (F, Js, 3): the source animation in world space.
    """
    by_role = {p[0]: p for p in pairs}
    si = np.array([src.index(s) for _, s, _ in pairs])
    ti = np.array([tgt.index(t) for _, _, t in pairs])
    D = src_rot[:, si] @ np.swapaxes(src.rest_rot[si], -1, -2)[None]  # (F, P, 3, 3) change since rest
    W = D @ (A @ Q @ tgt.rest_rot[ti])[None]
    for k, (role, s, _) in enumerate(pairs):
        if role not in children:
            continue
        c = src.index(by_role[children[role]][1])
        rest_dir = src.heads[c] - src.heads[src.index(s)]
        now = src_heads[:, c] - src_heads[:, si[k]]
        W[:, k] = swing(np.einsum("fab,b->fa", D[:, k], rest_dir), now) @ W[:, k]
    return Q.T[None, None] @ W


def pose_chain(tgt: Skeleton, driven: dict, hips: int, hips_heads: np.ndarray, frames: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """World rotations (F, J, 3, 3) and heads (F, J, 3) of every target bone: driven bones take their rotation,
    the others follow their parents rigidly; the hips' head is ``hips_heads`` (F, 3); bones above it rest."""
    J = len(tgt.names)
    R = np.empty((frames, J, 3, 3))
    H = np.empty((frames, J, 3))
    for j in range(J):
        p = int(tgt.parents[j])
        if p < 0:
            R[:, j], H[:, j] = tgt.rest_rot[j], tgt.heads[j]
        else:
            rel = tgt.rest_rot[p].T @ tgt.rest_rot[j]
            R[:, j] = R[:, p] @ rel
            H[:, j] = H[:, p] + np.einsum("fab,b->fa", R[:, p] @ tgt.rest_rot[p].T, tgt.heads[j] - tgt.heads[p])
        if j in driven:
            R[:, j] = driven[j]
        if j == hips:
            H[:, j] = hips_heads
    return R, H


def detect_contacts(ankles: np.ndarray, leg: float, height: float) -> np.ndarray:
    """(F, 2) bool: ankle (F, 2, 3) world positions within ``height`` * leg of each foot's lowest point."""
    z = ankles[..., 2]
    return z - z.min(axis=0, keepdims=True) < height * leg


def contact_targets(ankles: np.ndarray, contacts: np.ndarray, blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Pinned ankle positions (F, 2, 3) (horizontal: each contact's mean; height: unchanged) and weights (F, 2)
    in [0, 1]: 1 in contact, easing to 0 over ``blend`` frames on either side."""
    F = ankles.shape[0]
    goal = ankles.copy()
    weight = np.zeros((F, 2))
    for foot in range(2):
        c = np.asarray(contacts[:, foot], bool)
        edges = np.flatnonzero(np.diff(np.r_[0, c.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            mean_xy = ankles[a:b, foot, :2].mean(axis=0)
            lo, hi = max(0, a - blend), min(F, b + blend)
            frames = np.arange(lo, hi)
            w = np.clip(1.0 - np.maximum(a - frames, frames - (b - 1)) / (blend + 1.0), 0.0, 1.0)
            take = w > weight[lo:hi, foot]
            goal[lo:hi, foot, :2][take] = mean_xy
            weight[lo:hi, foot][take] = w[take]
    return goal, weight


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, goal: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rotations (F, 3, 3) for the upper and lower bone so the chain hip -> knee -> ankle (F, 3 each) reaches
    ``goal`` (F, 3), keeping the knee in its bend plane. Returns (R_upper, R_lower) to left-multiply the bones'
    world rotations (R_lower already includes R_upper)."""
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    to_goal = goal - hip
    d = np.clip(np.linalg.norm(to_goal, axis=-1), np.abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    u = _unit(to_goal)
    a = (l1 ** 2 - l2 ** 2 + d ** 2) / (2 * d)
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    pole = (knee - hip) - u * np.sum((knee - hip) * u, axis=-1, keepdims=True)
    pole = np.where(np.linalg.norm(pole, axis=-1, keepdims=True) > 1e-6, _unit(pole), _unit(np.cross(u, [1.0, 0, 0])))
    new_knee = hip + u * a[:, None] + pole * h[:, None]
    reach = hip + u * d[:, None]
    R1 = swing(knee - hip, new_knee - hip)
    R2 = swing(np.einsum("fab,fb->fa", R1, ankle - knee), reach - new_knee) @ R1
    return R1, R2


def lock_feet(tgt: Skeleton, roles: dict, R: np.ndarray, H: np.ndarray, contacts: np.ndarray, blend: int
              ) -> dict:
    """New world rotations {bone index: (F, 3, 3)} for thighs and shins pinning the ankles during contact."""
    out = {}
    ankles = np.stack([H[:, roles[f"foot{s}"]] for s in (".L", ".R")], axis=1)
    goal, weight = contact_targets(ankles, contacts, blend)
    for k, s in enumerate((".L", ".R")):
        th, sh, ft = roles[f"thigh{s}"], roles[f"shin{s}"], roles[f"foot{s}"]
        target = ankles[:, k] + weight[:, k, None] * (goal[:, k] - ankles[:, k])
        R1, R2 = two_bone_ik(H[:, th], H[:, sh], H[:, ft], target)
        out[th], out[sh] = R1 @ R[:, th], R2 @ R[:, sh]
    return out


def basis_channels(tgt: Skeleton, R: np.ndarray, hips: int, hips_heads: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Blender pose channels from world rotations R (F, J, 3, 3): quaternions (F, J, 4) of each bone's
    ``matrix_basis`` and the hips bone's location (F, 3) in armature units, in its rest frame."""
    P = tgt.parents
    rel = np.empty_like(R)
    for j in range(len(tgt.names)):
        p = int(P[j])
        local = R[:, j] if p < 0 else np.swapaxes(R[:, p], -1, -2) @ R[:, j]
        rest = tgt.rest_rot[j] if p < 0 else tgt.rest_rot[p].T @ tgt.rest_rot[j]
        rel[:, j] = rest.T @ local
    quats = quat_continuity(matrix_to_quat(_orthonormal(rel)), axis=0)
    loc = (hips_heads - tgt.heads[hips]) @ tgt.rest_rot[hips] / tgt.unit
    return quats, loc


def root_motion(src_pelvis: np.ndarray, src_ankles: np.ndarray | None, tgt_hips: np.ndarray,
                tgt_ankle_z: float | None, Q: np.ndarray, scale: float, mode: str
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Hips head positions (F, 3) in target world and the object offset (F, 3) for ``mode`` "object".

    Height: the source pelvis above its standing ankle level (5th percentile of the lower ankle over the frames),
    scaled, above the target's rest ankle level, so rigs whose rest pose stands elsewhere land on the same floor.
    Travel: the source pelvis's horizontal path from its first frame, scaled and turned by Q^T, from the target's
    rest position. src_pelvis (F, 3), src_ankles (F, 2, 3) or None (then heights are relative to frame 0).
    """
    if mode not in ROOT_MODES:
        raise RetargetError(f"root motion {mode!r}: choose one of {', '.join(ROOT_MODES)}")
    ref = src_pelvis[0].copy()
    base = tgt_hips.copy()
    if src_ankles is not None and tgt_ankle_z is not None:
        ref[2] = np.percentile(src_ankles[..., 2].min(axis=1), 5)
        base[2] = tgt_ankle_z
    disp = scale * (src_pelvis - ref) @ Q  # source world displacement -> target world (Q^T d)
    horizontal = disp.copy()
    horizontal[:, 2] = 0.0
    heads = base + disp
    if mode == "root_bone":
        return heads, None
    return heads - horizontal, (horizontal if mode == "object" else None)


def retarget(src: Skeleton, tgt: Skeleton, pairs, src_rot: np.ndarray, src_heads: np.ndarray,
             options: RetargetOptions = RetargetOptions(), contacts: np.ndarray | None = None) -> RetargetResult:
    """Retarget a source animation (src_rot (F, Js, 3, 3), src_heads (F, Js, 3), world) onto ``tgt``.

    pairs: (role, source bone, target bone) triples (:func:`bone_maps.pair_bones`), a ``hips`` pair first-class.
    contacts: (F, 2) bool left/right foot contact, or None to detect it from the source's ankle heights.
    """
    pairs = tuple(pairs)
    roles_t = {r: tgt.index(t) for r, _, t in pairs}
    roles_s = {r: src.index(s) for r, s, _ in pairs}
    if "hips" not in roles_t:
        raise RetargetError("no hips pair: the bone map must name the target's hips (pelvis) bone")
    F = src_rot.shape[0]
    Q = facing_rotation(src, tgt, pairs)
    children = segment_children(pairs)
    A = rest_alignment(src, tgt, pairs, Q, children)
    scale = options.scale if options.scale else leg_length(tgt, pairs, 2) / leg_length(src, pairs, 1)
    W = driven_rotations(src, tgt, pairs, src_rot, src_heads, Q, A, children)
    hips = roles_t["hips"]
    feet = all(f"{r}{s}" in roles_t for r in ("thigh", "shin", "foot") for s in (".L", ".R"))
    ankles = np.stack([src_heads[:, roles_s["foot.L"]], src_heads[:, roles_s["foot.R"]]], axis=1) if feet else None
    tgt_ankle_z = min(tgt.heads[roles_t["foot.L"], 2], tgt.heads[roles_t["foot.R"], 2]) if feet else None
    hips_heads, offset = root_motion(src_heads[:, roles_s["hips"]], ankles, tgt.heads[hips], tgt_ankle_z, Q,
                                     scale, options.root_motion)
    driven = {roles_t[r]: W[:, k] for k, (r, _, _) in enumerate(pairs)}
    R, H = pose_chain(tgt, driven, hips, hips_heads, F)
    if contacts is None and feet:
        contacts = detect_contacts(ankles, leg_length(src, pairs, 1), options.contact_height)
    contacts = np.zeros((F, 2), bool) if contacts is None else np.asarray(contacts, bool)
    if contacts.shape != (F, 2):
        raise RetargetError(f"foot contacts have shape {contacts.shape}, expected ({F}, 2)")
    if options.foot_lock and feet and contacts.any():
        driven.update(lock_feet(tgt, roles_t, R, H, contacts, options.lock_blend))
        R, H = pose_chain(tgt, driven, hips, hips_heads, F)
    quats, loc = basis_channels(tgt, R, hips, hips_heads)
    return RetargetResult(quats=quats, hips_location=loc, object_offset=offset, world_rot=R, heads=H, scale=scale,
                          contacts=contacts)


def skating(ankles: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal foot speed while in contact, in cm/frame. ankles (F, 2, 3) metres, contacts (F, 2) bool
    (a step counts when the foot is in contact on both of its frames)."""
    step = np.linalg.norm(np.diff(ankles[..., :2], axis=0), axis=-1) * 100.0  # (F-1, 2)
    both = contacts[1:] & contacts[:-1]
    return float(step[both].mean()) if both.any() else 0.0
