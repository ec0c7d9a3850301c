"""Shape keys from RigSpec blendshapes: body shape, expressions and SMPL pose correctives, in bulk."""

from __future__ import annotations

import bpy
import numpy as np

from ..core.rigspec import RigSpec
from .common import mute_shape_keys

SLIDER_LIMIT = 10.0  # Blender's hard bound on shape-key slider ranges


SMPL_FAMILY = ("smplx", "smplh", "smpl", "flame", "mano")


def key_names(prefix: str, names: tuple[str, ...], count: int, model: str = "") -> list[str]:
    """Shape-key names: ``Shape000`` / ``Exp000`` / ``Pose000`` for the SMPL family (whose coefficients are just
    numbered) or when the RigSpec has no names; otherwise the RigSpec's names (Anny phenotypes, ARKit blendshapes)."""
    if model in SMPL_FAMILY or len(names) != count:
        return [f"{prefix}{k:03d}" for k in range(count)]
    return list(names)


def _slider_range(rng: np.ndarray | None, values: np.ndarray | None, k: int) -> tuple[float, float]:
    lo, hi = -1.0, 1.0
    if rng is not None and len(rng) > k:
        lo, hi = min(lo, float(rng[k, 0])), max(hi, float(rng[k, 1]))
    if values is not None and values.size:
        lo, hi = min(lo, float(values[..., k].min())), max(hi, float(values[..., k].max()))
    return max(-SLIDER_LIMIT, lo), min(SLIDER_LIMIT, hi)


def add_shape_key_group(ob: bpy.types.Object, basis: np.ndarray, names: list[str], dirs: np.ndarray,
                        ranges: np.ndarray | None = None, values: np.ndarray | None = None) -> list[str]:
    """Add one shape key per blendshape: key k = basis (V, 3) + dirs[k] (V, 3), metres.

    ranges: (K, 2) RigSpec ranges; values: (..., K) the values that will be set/keyed. Slider ranges cover both
    (within Blender's +-10). Returns the created key names (Blender may suffix duplicates).
    """
    if ob.data.shape_keys is None:
        ob.shape_key_add(name="Basis", from_mix=False)
    basis = np.asarray(basis, np.float32)
    made = []
    for k, kname in enumerate(names):
        kb = ob.shape_key_add(name=kname, from_mix=False)
        kb.data.foreach_set("co", (basis + np.asarray(dirs[k], np.float32)).ravel())
        kb.slider_min, kb.slider_max = _slider_range(ranges, values, k)
        kb.value = 0.0  # new keys start at 1.0 in Blender 5
        made.append(kb.name)
    return made


def add_rig_shape_keys(ob: bpy.types.Object, rig: RigSpec, shape: bool = True, expressions: bool = True,
                       correctives: bool = True, expr_values: np.ndarray | None = None) -> dict[str, list[str]]:
    """Shape keys for the RigSpec's shape, expression and pose-corrective blendshapes on mesh object ``ob``.

    The mesh's vertices are the basis (zero shape). Returns {"shape": [...], "expression": [...], "pose": [...]}.
    """
    V = rig.num_vertices
    basis = np.empty(V * 3, np.float32)
    ob.data.vertices.foreach_get("co", basis)
    basis = basis.reshape(V, 3)
    out: dict[str, list[str]] = {"shape": [], "expression": [], "pose": []}
    if shape and len(rig.shape_names):
        names = key_names("Shape", rig.shape_names, len(rig.shape_names), rig.model)
        out["shape"] = add_shape_key_group(ob, basis, names, rig.shape_dirs, rig.shape_range)
    if expressions and len(rig.expr_names):
        names = key_names("Exp", rig.expr_names, len(rig.expr_names), rig.model)
        out["expression"] = add_shape_key_group(ob, basis, names, rig.expr_dirs, rig.expr_range, expr_values)
    if correctives and len(rig.pose_names):
        P = len(rig.pose_names)
        out["pose"] = add_shape_key_group(ob, basis, key_names("Pose", rig.pose_names, P, rig.model), rig.pose_dirs,
                                          np.tile([[-2.0, 2.0]], (P, 1)))
    return out


def set_shape_values(ob: bpy.types.Object, names: list[str], values: np.ndarray) -> None:
    """Set (not key) shape-key values, e.g. the static body shape."""
    blocks = ob.data.shape_keys.key_blocks
    for kname, v in zip(names, np.asarray(values, np.float64).tolist(), strict=False):
        blocks[kname].value = v


def set_correctives_muted(ob: bpy.types.Object, muted: bool) -> int:
    """Mute (or unmute) the pose-corrective shape keys of a built mesh, e.g. for fast viewport playback; their
    keyframes stay. Returns how many keys were changed."""
    from ..body_record import shape_key_names

    return mute_shape_keys(ob, shape_key_names(ob, "pose"), muted)
