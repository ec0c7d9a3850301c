"""The README picture of the scan workflow: the scan | the fitted body over it | the rigged scan in a new pose.

Makes a synthetic clothed Anny scan mesh (in centimetres, noise, a hole), fits it (``scan fit``), rigs it
(``scan rig``), poses the rigged scan with new joint rotations through its transferred weights, and draws the three
with the painter's algorithm of ``backend/viz.py``.

    .venv/bin/python scripts/render_scan_picture.py -o docs/images/scan_fit_rig.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_scan_mesh(path: Path, seed: int = 12) -> None:
    """A posed, clothed Anny mesh with 2 mm noise and a hole, Z-up, in centimetres."""
    import torch
    import trimesh

    from backend.bodymodels import load_body_model
    from backend.scan.synthetic import _clothing, random_pose

    model = load_body_model("anny")
    rv = random_pose(model, np.random.default_rng(seed), spread=0.6)
    with torch.no_grad():
        v = model(torch.as_tensor(rv, dtype=torch.float32)[None],
                  shape=torch.tensor([[0.1, 0.1, 0.2, 0.1, 0.1, 0.0]])).vertices[0].double().numpy()
    f = model.faces.numpy()
    v = v + _clothing(model, v, f) + np.random.default_rng(seed).normal(0, 0.002, v.shape)
    centre = v[np.argmax(v[:, 1])]  # a hole in the back
    keep = np.linalg.norm(v[f].mean(1) - centre, axis=1) > 0.07
    trimesh.Trimesh(v * 100, f[keep], process=False).export(str(path))


def camera(points: np.ndarray, forward: np.ndarray, up: np.ndarray, size: int):
    """World -> camera (OpenCV) looking at ``points`` from the front, and K for a ``size`` px square."""
    z = -forward / np.linalg.norm(forward)
    y = -up / np.linalg.norm(up)
    x = np.cross(y, z)
    R = np.stack([x, y, z])
    c = points.mean(0)
    extent = np.ptp(points, axis=0).max()
    f = size * 3.2 / extent * 0.85
    t = -R @ c + np.array([0, 0, 3.2])
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    return R, t, K


def draw(img: np.ndarray, verts: np.ndarray, faces: np.ndarray, R, t, K, colour) -> None:
    import cv2

    from backend.viz import visible_faces

    cam = verts @ R.T + t
    uv, idx, _, facing = visible_faces(cam, faces, K)
    pts = np.round(uv * 4).astype(np.int32)
    for i in idx:
        shade = 0.35 + 0.65 * facing[i]
        cv2.fillConvexPoly(img, pts[faces[i]], tuple(float(c * shade) for c in colour), cv2.LINE_AA, shift=2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=REPO / "docs/images/scan_fit_rig.png")
    ap.add_argument("--size", type=int, default=420)
    args = ap.parse_args()
    import cv2

    from backend.fitting.correspondences import model_axes
    from backend.scan.fit import model_rig
    from backend.scan.pipeline import run_fit, run_rig
    from blender_addon.core.jobs.scan import ScanFitParams, ScanRigParams
    from blender_addon.core.motion import Motion
    from blender_addon.core.rotations import rotvec_to_matrix

    tmp = Path(tempfile.mkdtemp(prefix="scan-picture-"))
    scan_path = tmp / "scan_cm.ply"
    make_scan_mesh(scan_path)
    fit = run_fit(ScanFitParams(scan=str(scan_path), output=str(tmp / "fit.npz"), mesh=str(tmp / "fit.ply")), tmp)
    rigged = run_rig(ScanRigParams(scan=str(scan_path), fit=str(fit["motion"]), output=str(tmp / "r.glb")), tmp)
    import trimesh

    from backend.bodymodels import load_body_model

    scan = trimesh.load(scan_path, process=False)
    scan_v, scan_f = np.asarray(scan.vertices) / 100, np.asarray(scan.faces)
    body = trimesh.load(fit["mesh"], process=False)
    body_v, body_f = np.asarray(body.vertices) / 100, np.asarray(body.faces)
    rig = model_rig(load_body_model("anny"))
    motion = Motion.load(fit["motion"])
    with np.load(rigged["weights"]) as d:
        rest, W, rest_j = d["rest_vertices"].astype(np.float64), d["weights"].astype(np.float64), d["rest_joints"]
    new = motion.rotvec[0].copy()  # a new pose: arms up, one knee bent, head turned
    names = list(rig.joint_names)
    for name, rv in (("upperarm01.L", (0, 0, 1.1)), ("upperarm01.R", (0, 0, -1.1)), ("lowerarm01.L", (0, 0, 0.6)),
                     ("upperleg01.R", (-0.7, 0, 0)), ("lowerleg01.R", (1.2, 0, 0)), ("head", (0, 0, 0.5))):
        new[names.index(name)] = rv
    G, heads = rig.forward_kinematics(rotvec_to_matrix(new)[None], motion.transl, rest_j.astype(np.float64))
    offs = heads[0] - np.einsum("jab,jb->ja", G[0], rest_j)
    posed = np.einsum("nab,nb->na", np.einsum("nj,jab->nab", W, G[0]), rest) + W @ offs
    _, up, fwd = model_axes(rig)
    world_up = np.array([0, 0, 1.0]) if motion.up_axis == "Z" else np.array([0, 1.0, 0])
    facing = rotvec_to_matrix(motion.rotvec[0, 0]) @ fwd
    facing -= world_up * (facing @ world_up)
    Rc, tc, K = camera(scan_v, facing, world_up, args.size)
    panels = []
    for layers in (((scan_v, scan_f, (200, 200, 200)),),
                   ((scan_v, scan_f, (120, 120, 120)), (body_v, body_f, (120, 170, 230))),
                   ((posed, scan_f, (230, 200, 170)),)):
        img = np.full((args.size, args.size, 3), 255, np.uint8)
        if len(layers) == 2:  # the body over a faded scan
            draw(img, *layers[1][:2], Rc, tc, K, layers[1][2])
            faded = img.copy()
            draw(faded, *layers[0][:2], Rc, tc, K, layers[0][2])
            img = cv2.addWeighted(img, 0.75, faded, 0.25, 0)
        else:
            draw(img, *layers[0][:2], Rc, tc, K, layers[0][2])
        panels.append(img)
    labels = ("scan (cm, clothed, noise, hole)", "fitted Anny body", "rigged scan, new pose")
    for img, text in zip(panels, labels):
        cv2.putText(img, text, (10, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), np.concatenate(panels, 1))
    print(args.output, f"Chamfer {motion.metadata['chamfer_mm']} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
