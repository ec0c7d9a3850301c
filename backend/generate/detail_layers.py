"""Procedural detail layers (clothing-like offsets, hair volume) and the detail factor: a mix of scaled layers.

Each procedural layer is a :class:`~backend.bodymodels.detail.DetailLayer` of one body model's topology, built
from the rig's skin weights (body regions) and rest geometry, offsets along the vertex normal (local z) with a
smoothed region mask so the seams fade out:

| layer            | region (skin weights of)                              | offset along the normal            |
|------------------|--------------------------------------------------------|------------------------------------|
| clothing_torso   | spine, clavicles, shoulders, upper arms                | 5 mm + 2 mm horizontal folds       |
| clothing_legs    | pelvis, upper and lower legs                           | 6 mm + 2 mm folds                  |
| hair             | head, scalp only (above the eyes, not the face)        | up to 15 mm, fading to the hairline |

The detail factor draws, per layer, whether it is worn and its scale; scan layers the user names are always worn
at their given scale. A mix is the sum of ``scale * offsets`` in local frames.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from backend.bodymodels.detail import DetailError, DetailLayer
from blender_addon.core.rigspec import RigSpec

# Body regions by joint name per model family: (layer -> joint-name substrings).
_REGIONS = {
    "anny": {
        "clothing_torso": ("spine", "clavicle", "shoulder01", "upperarm01"),
        "clothing_legs": ("pelvis", "upperleg", "lowerleg"),
        "hair": ("head",),
    },
    "smpl": {
        "clothing_torso": ("spine", "collar", "shoulder", "pelvis"),
        "clothing_legs": ("hip", "knee"),
        "hair": ("head",),
    },
}
PROCEDURAL_LAYERS = ("clothing_torso", "clothing_legs", "hair")
# Per layer: probability of being worn, scale ~ Uniform(lo, hi) (a design choice, stated in humans.json).
LAYER_PRIOR = {"clothing_torso": (0.8, 0.5, 1.5), "clothing_legs": (0.8, 0.5, 1.5), "hair": (0.7, 0.3, 1.2)}
THICKNESS_M = {"clothing_torso": 0.005, "clothing_legs": 0.006, "hair": 0.015}
FOLD_M, FOLD_PERIOD_M = 0.002, 0.07
SMOOTH_STEPS = 12


def _region_joints(rig: RigSpec, layer: str) -> np.ndarray:
    table = _REGIONS["anny" if rig.model == "anny" else "smpl"][layer]
    exact = layer == "hair"
    idx = [j for j, n in enumerate(rig.joint_names) if (n in table if exact else any(s in n for s in table))]
    if not idx:
        raise DetailError(f"{rig.model}: no joints for the {layer} region; procedural layers need named joints")
    return np.asarray(idx)


def _smooth(mask: np.ndarray, faces: np.ndarray, steps: int = SMOOTH_STEPS) -> np.ndarray:
    """Average a per-vertex value (V,) over one-ring neighbours ``steps`` times."""
    V = mask.shape[0]
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    A = sp.coo_matrix((np.ones(i.shape[0]), (i, j)), shape=(V, V)).tocsr()
    A = sp.diags(1.0 / np.maximum(np.asarray(A.sum(1)).ravel(), 1)) @ A
    for _ in range(steps):
        mask = 0.5 * mask + 0.5 * (A @ mask)
    return mask


def region_mask(rig: RigSpec, layer: str, verts: np.ndarray | None = None) -> np.ndarray:
    """(V,) soft mask in [0, 1] of the region ``layer`` covers on the rig's topology."""
    from backend.bodymodels.detail import vertex_normals

    verts = rig.template if verts is None else verts
    w = rig.skin_weights[:, _region_joints(rig, layer)].sum(1).astype(np.float64)
    mask = np.clip((w - 0.3) / 0.4, 0.0, 1.0)
    if layer == "hair":
        up = "XYZ".index(rig.up_axis)
        eyes = [j for j, n in enumerate(rig.joint_names) if "eye" in n.lower()]
        head = rig.rest_joints[rig.joint_names.index("head")]
        brow = rig.rest_joints[eyes, up].max() + 0.02 if eyes else head[up] + 0.05
        n = vertex_normals(verts, rig.faces)
        forward = -1 if rig.model == "anny" else 2  # Anny faces -Y; SMPL family faces +Z
        facing = n[:, abs(forward)] * np.sign(forward) if rig.model == "anny" else n[:, 2]
        scalp = (verts[:, up] > brow) | ((facing < -0.2) & (verts[:, up] > head[up]))
        mask = mask * scalp * np.clip((verts[:, up] - brow + 0.03) / 0.06, 0.0, 1.0)
    return np.clip(_smooth(mask, rig.faces), 0.0, 1.0)


def procedural_layer(rig: RigSpec, layer: str) -> DetailLayer:
    """The named procedural layer for ``rig``'s topology, offsets (V, 3) local metres."""
    if layer not in PROCEDURAL_LAYERS:
        raise DetailError(f"unknown detail layer {layer!r}; choose from {list(PROCEDURAL_LAYERS)}")
    mask = region_mask(rig, layer)
    depth = THICKNESS_M[layer] * mask
    if layer != "hair":
        up = rig.template[:, "XYZ".index(rig.up_axis)]
        depth = depth + FOLD_M * mask * np.sin(2 * np.pi * up / FOLD_PERIOD_M)
    offsets = np.zeros((rig.num_vertices, 3), np.float32)
    offsets[:, 2] = depth
    return DetailLayer(offsets=offsets, model=rig.model, source=f"procedural:{layer}")


def sample_detail(rng: np.random.Generator, scan_layers: dict[str, float] | None = None) -> dict:
    """Draw the detail factor: {"layers": [{"name", "scale"}, ...]} (procedural ones by :data:`LAYER_PRIOR`, then
    the user's scan layers ``{path: scale}``)."""
    layers = []
    for name in PROCEDURAL_LAYERS:
        p, lo, hi = LAYER_PRIOR[name]
        worn, scale = rng.random() < p, float(rng.uniform(lo, hi))
        if worn:
            layers.append({"name": name, "scale": round(scale, 6)})
    for path, scale in (scan_layers or {}).items():
        layers.append({"name": "scan", "file": str(path), "scale": float(scale)})
    return {"layers": layers}


def mix_layers(rig: RigSpec, detail: dict, cache: dict | None = None) -> np.ndarray:
    """(V, 3) local offsets of a detail factor on ``rig``'s topology (procedural layers are built on ``rig``: pass
    the model's reference body so every body gets the same layers); scan files are checked against the rig."""
    cache = {} if cache is None else cache
    total = np.zeros((rig.num_vertices, 3), np.float64)
    for item in detail.get("layers", []):
        key = item.get("file") or item["name"]
        if key not in cache:
            if item["name"] == "scan":
                layer = DetailLayer.load(item["file"])
                layer.check_body(rig.model, rig.num_vertices, item["file"])
            else:
                layer = procedural_layer(rig, item["name"])
            cache[key] = layer.offsets.astype(np.float64)
        total += float(item["scale"]) * cache[key]
    return total
