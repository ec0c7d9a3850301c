"""Accuracy harness: render a body model doing a known motion from a known camera, run the estimate (real
MediaPipe + fit) on the rendered frames, and report MPJPE / PA-MPJPE (mm) for body, hands and face landmarks.

    python scripts/eval/eval_synthetic.py [--frames 40] [--out DIR] [--size 1280x960] [--json results.json]

MPJPE: mean joint error after aligning the root (mid-hip, or the wrist for hands); PA-MPJPE: after a per-frame
similarity (Procrustes) alignment. Both in camera coordinates, millimetres. Face points are placed by the body's
alignment (face_pa_mpjpe_mm: the 12 main body joints; face_pa_torso_mm: shoulders and hips only).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from render import render, textured_background, vertex_colours  # noqa: E402

from backend.fitting.metrics import similarity_transform  # noqa: E402

log = logging.getLogger("eval_synthetic")
BODY = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
FACE = (0, 2, 5, 7, 8)


def similarity(a: np.ndarray, b: np.ndarray):
    """The similarity transform x -> s R x + c taking b (N, 3) onto a (N, 3), as a function."""
    k, R, c = similarity_transform(b, a)
    return lambda x: k * x @ R.T + c


def errors(true: np.ndarray, est: np.ndarray, root: list[int], align: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[float, float]:
    """(F, N, 3) -> (MPJPE, PA-MPJPE) in mm over frames. MPJPE after moving ``root`` points onto each other;
    PA after the per-frame similarity that best aligns ``align`` = (true, est) point sets (default: these)."""
    t = true - true[:, root].mean(1, keepdims=True)
    e = est - est[:, root].mean(1, keepdims=True)
    mpjpe = np.linalg.norm(t - e, axis=-1).mean()
    at, ae = (true, est) if align is None else align
    pa = np.mean([np.linalg.norm(similarity(at[f], ae[f])(est[f]) - true[f], axis=-1).mean() for f in range(len(t))])
    return float(mpjpe * 1000), float(pa * 1000)


def known_motion(rig, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Arms swinging, elbows and one knee bending, fingers curling, the body turning by up to 40 degrees."""
    from backend.fitting.correspondences import HAND_JOINTS, find_joint, model_axes

    names = list(rig.joint_names)
    left, up, fwd = model_axes(rig)
    t = np.linspace(0, 1, frames)
    rv = np.zeros((frames, rig.num_joints, 3))
    rv[:, 0] = up[None] * (0.7 * np.sin(np.pi * t) - 0.2)[:, None]
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        j = lambda c: find_joint(names, c, side)  # noqa: E731
        rv[:, j(("upperarm01{a}", "{s}_shoulder"))] = (fwd * (0.25 + 0.5 * np.sin(2 * np.pi * t))[:, None] * sgn
                                                       + up * 0.5 * sgn * np.sin(np.pi * t)[:, None])
        rv[:, j(("lowerarm01{a}", "{s}_elbow"))] = left[None] * sgn * (0.3 + 0.6 * t)[:, None]
        for f in range(5):
            for k in range(3):
                jj = j(HAND_JOINTS[1 + 4 * f + k])
                if jj >= 0:
                    rv[:, jj] = -fwd[None] * sgn * (0.5 * np.sin(np.pi * t) * (0.3 if f == 0 else 1.0))[:, None]
    kn = find_joint(names, ("lowerleg01{a}", "{s}_knee"), "left")
    hip = find_joint(names, ("upperleg01{a}", "{s}_hip"), "left")
    rv[:, kn] = left[None] * (0.9 * np.sin(np.pi * t))[:, None]
    rv[:, hip] = -left[None] * (0.6 * np.sin(np.pi * t))[:, None]
    transl = left[None] * (0.25 * t)[:, None]
    return rv, transl


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--size", default="1280x960")
    ap.add_argument("--distance", type=float, default=2.6, help="camera distance, metres")
    ap.add_argument("--out", default=None, help="keep rendered frames and results here")
    ap.add_argument("--json", default=None)
    ap.add_argument("--model", default="anny")
    ap.add_argument("--fit", default="{}", help='FitSettings overrides as JSON, e.g. \'{"w_3d": 30}\'')
    ap.add_argument("--reuse", action="store_true", help="re-use frames already rendered in --out")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from backend.bodymodels import load_body_model
    from backend.fitting.correspondences import body_correspondences, hand_correspondences, model_axes
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.fitting.fit import FitSettings
    from blender_addon.core.motion import Motion

    W, H = (int(v) for v in a.size.split("x"))
    model = load_body_model(a.model)
    rig = model.rig_spec()
    rv, tr = known_motion(rig, a.frames)
    left, up, fwd = model_axes(rig)
    R = np.stack([left, -up, -fwd])
    f = 0.9 * max(W, H)
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    with torch.no_grad():
        out = model(torch.as_tensor(rv, dtype=torch.float32), torch.as_tensor(tr, dtype=torch.float32))
    verts, joints = out.vertices.numpy().astype(np.float64), out.joints.numpy().astype(np.float64)
    centre = verts[0].mean(0)
    t = np.array([0.0, 0.0, a.distance]) - R @ centre
    faces = model.faces.cpu().numpy()
    colours = vertex_colours(verts[0], up)
    bg = textured_background(W, H)
    workdir = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="smplpix_eval_"))
    frames_dir = workdir / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for i in range(a.frames):
        if a.reuse and (frames_dir / f"{i:04d}.png").is_file():
            continue
        cv2.imwrite(str(frames_dir / f"{i:04d}.png"), render(bg, verts[i] @ R.T + t, faces, K, colours))
    log.info("rendered %d frames into %s", a.frames, frames_dir)

    req = EstimateRequest(input=frames_dir, cache_dir=workdir / "cache", output=workdir / "motion.npz", model=a.model,
                          fit=FitSettings(focal=f, **json.loads(a.fit)), keypoints_out=workdir / "keypoints.npz")
    result = estimate(req)
    motion = Motion.load(result.motion_path)
    with torch.no_grad():
        shape = torch.as_tensor(motion.betas, dtype=torch.float32)[None] if motion.betas.size else None
        fo = model(torch.as_tensor(motion.rotvec, dtype=torch.float32),
                   torch.as_tensor(motion.transl, dtype=torch.float32), shape=shape)
    est_j, est_v = fo.joints.numpy().astype(np.float64), fo.vertices.numpy().astype(np.float64)
    cam = lambda p, Rm, tv: p @ Rm.T + tv  # noqa: E731
    true_c = lambda p: cam(p, R, t)  # noqa: E731
    est_c = lambda p: np.einsum("fab,fnb->fna", motion.camera.R, p) + motion.camera.t[:, None]  # noqa: E731

    def points(corr, J, V):
        return np.where((corr.joint >= 0)[None, :, None], J[:, np.maximum(corr.joint, 0)],
                        V[:, np.maximum(corr.vertex, 0)])

    body = body_correspondences(rig)
    sel = [k for k, s in enumerate(body.source_index) if s in BODY]
    hips = [sel.index(k) for k, s in enumerate(body.source_index) if s in (23, 24)]
    res = {"frames": a.frames, "image_size": [W, H], "found_fraction": result.metrics["found_fraction"],
           "reprojection_median_px": result.metrics["reprojection_median_px"]}
    kp = np.load(workdir / "keypoints.npz")
    found = kp["found"].astype(bool)  # errors over the frames where the person was detected
    tb, eb = true_c(points(body, joints, verts))[found], est_c(points(body, est_j, est_v))[found]
    res["body_mpjpe_mm"], res["body_pa_mpjpe_mm"] = errors(tb[:, sel], eb[:, sel], hips)
    per = np.mean([np.linalg.norm(similarity(tb[f, sel], eb[f, sel])(eb[f, sel]) - tb[f, sel], axis=-1)
                   for f in range(len(tb))], axis=0)
    res["body_pa_per_landmark_mm"] = {int(body.source_index[k]): round(float(e) * 1000, 1) for k, e in zip(sel, per)}
    # Face landmarks (nose, eyes, ears): placed by the body's alignment (a rigid head alone would be trivial).
    fsel = [k for k, s in enumerate(body.source_index) if s in FACE]
    res["face_mpjpe_mm"], res["face_pa_mpjpe_mm"] = errors(tb[:, fsel], eb[:, fsel], [0],
                                                           align=(tb[:, sel], eb[:, sel]))
    # The same placed by the torso alone (shoulders, hips): the head's pose on the trunk, without the limbs' errors
    # tilting the alignment.
    tsel = [k for k, s in enumerate(body.source_index) if s in (11, 12, 23, 24)]
    res["face_pa_torso_mm"] = errors(tb[:, fsel], eb[:, fsel], [0], align=(tb[:, tsel], eb[:, tsel]))[1]
    for side in ("left", "right"):
        hc = hand_correspondences(rig, side)
        seen = kp[f"{side}_hand"][:, 0, 2] > 0
        res[f"{side}_hand_detected_fraction"] = float(seen.mean())
        th, eh = true_c(points(hc, joints, verts)), est_c(points(hc, est_j, est_v))
        if seen.any():
            res[f"{side}_hand_mpjpe_mm"], res[f"{side}_hand_pa_mpjpe_mm"] = errors(th[seen], eh[seen], [0])
    res["timings_s"] = result.timings
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
