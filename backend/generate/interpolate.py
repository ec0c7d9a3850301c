"""Interpolation between two humans while one moves (gDNA's "dancinterpolation").

The result is one rig and one motion: the rig is human A at rest (shape and detail baked, feet on the floor) with
``MORPH_KEYS`` extra expression blendshapes ``morph_1..K``; key k moves the rest mesh (and joints) from the body at
``t = (k-1)/K`` to the body at ``t = k/K``, where the body at ``t`` has the phenotypes / betas and the detail mix
interpolated linearly (so the path follows the model's own non-linear shape space, piecewise linearly in between).
Per frame, ``t = smoothstep(i / (F-1))``, key k weighs ``clip(K t - (k-1), 0, 1)``, and the face coefficients are
``(1-t) A + t B``. A's pose factor drives the motion. In Blender, the morph keys are shape keys animated per frame,
and the bones follow them through the builders' expression joint offsets.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from backend.generate.batch import RecordError, load_record, options_of, write_json_atomic
from backend.generate.face import face_coefficients
from backend.generate.human import make_generator, rest_body
from backend.generate.motion_sources import motion_for
from blender_addon.core.motion import Motion
from backend.runtime import torch_threads

log = logging.getLogger(__name__)
MORPH_KEYS = 4


def _lerp_shape(a: dict, b: dict, t: float) -> dict:
    if "phenotype" in a:
        return {"phenotype": {k: (1 - t) * a["phenotype"][k] + t * b["phenotype"][k] for k in a["phenotype"]}}
    return {"betas": list((1 - t) * np.asarray(a["betas"]) + t * np.asarray(b["betas"]))}


def _lerp_detail(a: dict, b: dict, t: float) -> dict:
    """Detail mix at t: A's layers scaled by (1-t) plus B's scaled by t (the mix is linear in the scales)."""
    layers = [{**x, "scale": (1 - t) * x["scale"]} for x in a["layers"]]
    layers += [{**x, "scale": t * x["scale"]} for x in b["layers"]]
    return {"layers": layers}


def morph_bodies(generator, a: dict, b: dict, keys: int = MORPH_KEYS):
    """Rest bodies along A -> B: (rig of A, verts (K+1, V, 3), joints (K+1, J, 3)) with feet on the floor."""
    cache: dict = {}
    verts, joints, rig_a = [], [], None
    for k in range(keys + 1):
        t = k / keys
        factors = {"shape": _lerp_shape(a["shape"], b["shape"], t), "detail": _lerp_detail(a["detail"], b["detail"], t)}
        rig, betas, _ = rest_body(generator, factors, cache)
        v, j = rig.rest_state(betas)
        verts.append(v)
        joints.append(j)
        rig_a = rig if k == 0 else rig_a
    return rig_a, np.stack(verts), np.stack(joints)


def morph_weights(frames: int, keys: int = MORPH_KEYS) -> tuple[np.ndarray, np.ndarray]:
    """t (F,) smoothstep in [0, 1] and morph-key weights (F, K)."""
    s = np.linspace(0.0, 1.0, frames) if frames > 1 else np.ones(1)
    t = s * s * (3 - 2 * s)
    k = np.arange(keys)
    return t, np.clip(keys * t[:, None] - k[None], 0.0, 1.0)


@torch_threads(1)  # the same bytes on any machine: results must not depend on the core count
def interpolate(spec_a: str | Path, spec_b: str | Path, frames: int, out: str | Path, fps: float | None = None,
                model_dir: str | None = None, name: str = "interp", generator=None) -> dict:
    """Write ``name.npz`` (rig), ``name.motion.npz`` and ``name.json`` into ``out``; returns {role: path}."""
    a, _ = load_record(spec_a)
    b, _ = load_record(spec_b)
    if a["model"] != b["model"]:
        raise RecordError(f"{spec_a} is {a['model']} and {spec_b} is {b['model']}; interpolate two humans of the "
                          "same body model")
    if frames < 2:
        raise RecordError(f"frames is {frames}; an interpolation needs at least 2")
    opts = options_of(a)
    fps = float(fps or a.get("fps", 30.0))
    generator = generator or make_generator(a["model"], model_dir, opts.gender)
    rig, verts, joints = morph_bodies(generator, a["factors"], b["factors"])
    K = verts.shape[0] - 1
    face_a = face_coefficients(a["factors"]["face"], rig.expr_names)
    face_b = face_coefficients(b["factors"]["face"], rig.expr_names)
    E = len(rig.expr_names)
    base_v, base_j = rig.rest_state(np.asarray(a["factors"]["shape"].get("betas", []), np.float64))
    # Key k = body(k/K) - body((k-1)/K); rest_state of the rig (which is body(0)) adds them up.
    dv, dj = np.diff(verts, axis=0), np.diff(joints, axis=0)
    dv[0] += verts[0] - base_v  # zero for Anny (shape baked); betas keys cover SMPL's own shape
    dj[0] += joints[0] - base_j
    rig = dataclasses.replace(
        rig, expr_names=rig.expr_names + tuple(f"morph_{k + 1}" for k in range(K)),
        expr_dirs=np.concatenate([rig.expr_dirs.reshape(E, rig.num_vertices, 3), dv.astype(np.float32)]),
        expr_joint_dirs=np.concatenate([rig.expr_joint_dirs.reshape(E, rig.num_joints, 3), dj.astype(np.float32)]),
        expr_range=np.concatenate([rig.expr_range.reshape(E, 2), np.tile([[0.0, 1.0]], (K, 1))]).astype(np.float32),
        metadata={**rig.metadata, "generate": {"interpolate": [a["name"], b["name"]], "morph_keys": K}})
    t, w = morph_weights(frames, K)
    rotvec, transl, meta = motion_for(a["factors"]["pose"], rig, frames, fps)
    expression = np.concatenate([(1 - t)[:, None] * face_a + t[:, None] * face_b, w], axis=1)
    betas = np.asarray(a["factors"]["shape"].get("betas", np.zeros(0)), np.float64)
    if rig.model == "anny":
        betas = np.zeros(len(rig.shape_names))
    motion = Motion(model=rig.model, fps=fps, joint_names=rig.joint_names, rotvec=rotvec, transl=transl,
                    betas=betas, expression=expression, gender=rig.gender, up_axis=rig.up_axis,
                    metadata={**meta, "generated": True, "interpolate": [a["name"], b["name"]]})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"rig": rig.save(out / f"{name}.npz"), "motion": motion.save(out / f"{name}.motion.npz")}
    files["record"] = write_json_atomic(out / f"{name}.json", {
        "version": 1, "kind": "interpolation", "a": a, "b": b, "frames": frames, "fps": fps, "morph_keys": K,
        "files": {k: Path(v).name for k, v in files.items()}})
    log.info("interpolation %s -> %s: %d frames, %d morph keys", a["name"], b["name"], frames, K)
    return files
