"""The two scan jobs as plain functions (used by the CLI and the job server): ``run_fit`` and ``run_rig``.

Inputs are checked before the long work starts; outputs are written atomically, and only once everything
succeeded (nothing half-written)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backend.scan.reader import ScanError, read_scan
from blender_addon.core.jobs.scan import ScanFitParams, ScanRigParams
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


def run_fit(P: ScanFitParams, out_dir: str | Path, progress: Progress | None = None) -> dict[str, Path]:
    """Fit and write {role: path}: motion, rig, and (if asked) mesh and detail."""
    from backend.bodymodels import load_body_model
    from backend.scan.detail import scan_detail
    from backend.scan.fit import ScanFitSettings, fit_scan, model_rig
    from blender_addon.core.npzio import write_npz_atomic

    out_dir = Path(out_dir)
    motion_path = Path(P.output) if P.output else out_dir / "scan_fit.npz"
    _check_outputs([motion_path] + [Path(p) for p in (P.mesh, P.detail) if p])
    scan = read_scan(P.scan)
    gender = ("right" if P.gender == "neutral" else P.gender) if P.model == "mano" else P.gender
    model = load_body_model(P.model, model_dir=P.model_dir, gender=gender)
    settings = ScanFitSettings(fit_pose=P.fit_pose)
    fit = fit_scan(scan, model, settings.quick() if P.fast else settings, progress)
    rig = model_rig(model)
    up = _up_axis(fit.rotvec[0], rig.up_axis) if P.up_axis == "auto" else P.up_axis
    motion = Motion(model=model.name, fps=30.0, joint_names=rig.joint_names, rotvec=fit.rotvec[None],
                    transl=fit.transl[None], betas=fit.shape, expression=None, confidence=np.ones(1, np.float32),
                    gender=gender, up_axis=up, source_video="",
                    metadata={"scan": os.path.abspath(P.scan), "scan_unit": fit.unit, "scan_scale": fit.scale,
                              "chamfer_mm": round(fit.chamfer_mm, 2), "fit_seconds": round(fit.seconds, 2),
                              "notes": list(fit.notes), "scan_coordinates": "metres, the scan's axes",
                              "model_dir": os.path.abspath(P.model_dir) if P.model_dir else ""})
    results: dict[str, Path] = {}
    rig_path = out_dir / "scan_rig.npz"
    rig.save(rig_path)
    results["rig"] = rig_path
    results["scan"] = write_npz_atomic(out_dir / "scan_mesh.npz", {
        "vertices": (scan.vertices * fit.scale).astype(np.float32),
        "faces": (scan.faces if scan.is_mesh else np.zeros((0, 3))).astype(np.int32)})
    if P.mesh:
        results["mesh"] = write_mesh_atomic(P.mesh, fit.vertices / fit.scale, rig.faces)
    if P.detail:
        layer = scan_detail(fit, rig.faces, scan, source=os.path.abspath(P.scan))
        results["detail"] = layer.save(P.detail)
    results["motion"] = motion.save(motion_path)  # last: its presence means the fit finished
    log.info("%s: fitted %s, Chamfer %.1f mm in %.1f s", P.scan, model.name, fit.chamfer_mm, fit.seconds)
    return results


def run_rig(P: ScanRigParams, out_dir: str | Path, progress: Progress | None = None) -> dict[str, Path]:
    """Skin-weight transfer + unposing + the rigged .glb; writes {role: path}: glb, weights."""
    from backend.bodymodels import load_body_model
    from backend.scan.fit import model_rig
    from backend.scan.glb import write_rigged_glb
    from backend.scan.skin import transfer_weights, unpose
    from blender_addon.core.npzio import write_npz_atomic

    out_dir = Path(out_dir)
    glb_path = Path(P.output) if P.output else out_dir / "scan_rigged.glb"
    _check_outputs([glb_path])
    scan = read_scan(P.scan)
    if scan.notes and not scan.is_mesh:
        log.warning("%s: rigging the subsampled points", P.scan)
    motion = Motion.load(P.fit)
    scale = float(motion.metadata.get("scan_scale", 1.0))
    gender = motion.gender
    model_dir = P.model_dir or motion.metadata.get("model_dir") or None  # default: the folder the fit used
    model = load_body_model(motion.model, model_dir=model_dir, gender=gender)
    rig = model_rig(model)
    if tuple(motion.joint_names) != rig.joint_names:
        raise ScanError(f"{P.fit}: made for another rig ({len(motion.joint_names)} joints); fit the scan again")
    report = progress or (lambda *a: None)
    report("weights", 0, 3)
    import torch

    with torch.no_grad():
        shape = torch.as_tensor(motion.betas, dtype=torch.float32)[None] if len(motion.betas) else None
        body = model(torch.as_tensor(motion.rotvec, dtype=torch.float32), torch.as_tensor(
            motion.transl, dtype=torch.float32), shape=shape).vertices[0].double().numpy()
    verts = scan.vertices * scale
    weights = transfer_weights(body, rig.faces, rig.skin_weights, verts, scan.faces, smooth=P.smooth)
    report("unpose", 1, 3)
    rest, rest_j = unpose(verts, weights, rig, motion.rotvec[0], motion.transl[0], motion.betas)
    report("write", 2, 3)
    weights_path = write_npz_atomic(out_dir / "scan_weights.npz", {
        "rest_vertices": rest.astype(np.float32), "faces": (scan.faces if scan.is_mesh else np.zeros((0, 3))
                                                            ).astype(np.int32),
        "weights": weights, "joint_names": np.asarray(rig.joint_names, dtype=np.str_),
        "rest_joints": rest_j.astype(np.float32), "scan_scale": np.asarray(scale)})
    glb = write_rigged_glb(glb_path, rig.joint_names, rig.parents, rest_j, motion.rotvec[0], motion.transl[0], rest,
                           scan.faces, weights, up_axis=motion.up_axis, name=Path(P.scan).stem)
    report("write", 3, 3)
    return {"glb": glb, "weights": weights_path}


def write_mesh_atomic(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """A .ply/.obj/.glb (by suffix) of vertices (V, 3) and faces (F, 3), via ``<name>.part`` and a rename."""
    import trimesh

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        trimesh.Trimesh(vertices, faces, process=False).export(str(tmp), file_type=path.suffix.lstrip(".").lower())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_outputs(paths: list[Path]) -> None:
    for p in paths:
        parent = p.parent if str(p.parent) else Path(".")
        if parent.exists() and not parent.is_dir():
            raise ScanError(f"{p}: cannot write here ({parent} is not a folder)")
        if p.exists() and p.is_dir():
            raise ScanError(f"{p}: is a folder; give a file name")
    for p in paths:
        if p.suffix.lower() == ".ply" or p.suffix.lower() in (".npz", ".glb", ".obj"):
            continue
        raise ScanError(f"{p}: unsupported output type {p.suffix or '(none)'} (use .npz, .ply, .obj or .glb)")


def _up_axis(root_rotvec: np.ndarray, model_up: str) -> str:
    """'Y' or 'Z': the scan axis the fitted body's up points along most (the motion's world axes)."""
    from blender_addon.core.rotations import rotvec_to_matrix

    up = {"Y": np.array([0.0, 1, 0]), "Z": np.array([0.0, 0, 1])}[model_up]
    world_up = rotvec_to_matrix(np.asarray(root_rotvec, np.float64)) @ up
    return "Z" if abs(world_up[2]) >= abs(world_up[1]) else "Y"
