"""Multi-camera accuracy on a calibrated take (default: the shared 4-view Pose2Sim capture).

(a) all views fitted jointly vs the robust all-view triangulation of the detections: world MPJPE (no alignment) and
PA-MPJPE, millimetres, on the body landmarks (the model's landmark points, not its joint centres);
(b) leave one view out: fit the other views, project the body into the left-out view and measure the 2D error
against that view's detections, beside the error of the other views' triangulation projected the same way.

    python scripts/eval/eval_multicam.py [--data DIR] [--cache-dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def heldout_errors(cams, tracks, group, held: int, fit) -> tuple[float, float]:
    """Median 2D error (px) in view ``held`` of the fitted landmarks and of the other views' triangulation, on the
    held-out view's confident detections."""
    from backend.perception.calibration import project
    from backend.perception.triangulate import triangulate_robust

    det = tracks[held].people[group[held]].body  # (F, 33, 3)
    others = [v for v in sorted(group) if v != held]
    body = np.stack([tracks[v].people[group[v]].body for v in others])
    tri = triangulate_robust([cams[v] for v in others], body[..., :2], body[..., 2] >= 0.3).points  # (F, 33, 3)
    idx = fit.body_index
    ok = (det[:, idx, 2] > 0.5) & np.isfinite(tri[:, idx]).all(-1)
    e_fit = np.linalg.norm(project(cams[held], fit.landmarks) - det[:, idx, :2], axis=-1)[ok]
    e_tri = np.linalg.norm(project(cams[held], np.nan_to_num(tri[:, idx])) - det[:, idx, :2], axis=-1)[ok]
    return float(np.median(e_fit)), float(np.median(e_tri))


def pa_mpjpe_mm(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean per-frame similarity-aligned distance (mm) of (F, L, 3) points to (F, L, 3) reference (nan: left out)."""
    from backend.fitting.metrics import similarity_transform

    errs = []
    for p, r in zip(pred, ref):
        ok = np.isfinite(r).all(-1) & np.isfinite(p).all(-1) & (np.abs(p).sum(-1) > 0)
        if ok.sum() >= 6:
            sc, R, t = similarity_transform(p[ok], r[ok])
            errs.append(np.linalg.norm(sc * p[ok] @ R.T + t - r[ok], axis=-1).mean())
    return float(np.mean(errs) * 1000)


def monocular_figures(kp, tri: np.ndarray, model) -> dict:
    """PA-MPJPE (mm) vs the triangulation of one view's monocular fit and of MediaPipe's own world landmarks."""
    import torch

    from backend.fitting.correspondences import body_correspondences, pick_surface_points
    from backend.fitting.estimate import EstimateRequest
    from backend.fitting.people_estimate import fit_person

    motion, _ = fit_person(kp, model, EstimateRequest(input=Path(kp.source), output=Path("/tmp/unused.npz")),
                           lambda *a: None)
    rig = model.rig_spec()
    corr = body_correspondences(rig, pick_surface_points(rig))
    F = motion.num_frames
    with torch.no_grad():
        out = model(torch.as_tensor(motion.rotvec, dtype=torch.float32),
                    torch.as_tensor(motion.transl, dtype=torch.float32),
                    shape=torch.as_tensor(motion.betas, dtype=torch.float32)[None].expand(F, -1))
    J, V = out.joints.numpy(), out.vertices.numpy()
    L = np.where((corr.joint >= 0)[None, :, None], J[:, np.maximum(corr.joint, 0)], V[:, np.maximum(corr.vertex, 0)])
    idx = corr.source_index
    return {"monocular_pa_mpjpe_mm": pa_mpjpe_mm(L, tri[:, idx]),
            "mediapipe_pa_mpjpe_mm": pa_mpjpe_mm(kp.body_world[:, idx].astype(np.float64), tri[:, idx])}


def evaluate(data: Path, cache_dir: Path | None, person: int = 0) -> dict:
    from backend.fitting.estimate import EstimateRequest
    from backend.fitting.multiview_estimate import (MultiViewRequest, associate, check_inputs, estimate_multiview,
                                                    world_errors)
    from backend.perception.tracking import track_people

    videos = tuple(sorted(data.glob("cam*.mp4")))
    calib = next(data.glob("*.qca.txt"), None) or next(data.glob("*.toml"))
    out = Path("/tmp") / "eval_multicam"
    base = EstimateRequest(input=videos[0], output=out / "all.npz", cache_dir=cache_dir)
    req = MultiViewRequest(base=base, videos=videos, calibration=calib, people=None)
    cams, ranges = check_inputs(req)
    tracks = [track_people(v, fr, base.detect, req.people_settings, cache_dir) for v, fr in zip(videos, ranges)]
    group = associate(cams, tracks)[person]
    result = estimate_multiview(MultiViewRequest(base=base, videos=videos, calibration=calib, people=1))
    report = {"people_found": len(associate(cams, tracks)), "joint": world_errors(result.fits[0]), "leave_one_out": []}
    from backend.bodymodels import load_body_model

    first = sorted(group)[0]
    report["monocular"] = dict(view=cams[first].name, **monocular_figures(
        tracks[first].people[group[first]], result.fits[0].triangulated, load_body_model("anny")))
    for held in sorted(group):
        keep = tuple(v for v in sorted(group) if v != held)
        res = estimate_multiview(MultiViewRequest(base=EstimateRequest(input=videos[0], output=out / f"loo{held}.npz",
                                                                       cache_dir=cache_dir),
                                                  videos=videos, calibration=calib, people=1, views=keep))
        e_fit, e_tri = heldout_errors(cams, tracks, group, held, res.fits[0])
        report["leave_one_out"].append({"held_out": cams[held].name, "fit_px": e_fit, "triangulation_px": e_tri,
                                        "ratio": e_fit / e_tri})
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "pose2sim_multiperson"))
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "smplpix-studio" / "detections"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = evaluate(Path(args.data), Path(args.cache_dir) if args.cache_dir != "none" else None)
    j = report["joint"]
    print(f"(a) {len(report['leave_one_out']) } views jointly vs robust triangulation: world MPJPE "
          f"{j['world_mpjpe_mm']:.1f} mm, PA-MPJPE {j['pa_mpjpe_mm']:.1f} mm ({j['points']} landmark points); jitter "
          f"(mean second difference) {j['jitter_fit_mm']:.1f} mm vs the triangulation's {j['jitter_triangulation_mm']:.1f}")
    m = report["monocular"]
    print(f"    beside: monocular fit of {m['view']} PA-MPJPE {m['monocular_pa_mpjpe_mm']:.1f} mm, MediaPipe's world "
          f"landmarks of {m['view']} PA-MPJPE {m['mediapipe_pa_mpjpe_mm']:.1f} mm")
    for r in report["leave_one_out"]:
        print(f"(b) held out {r['held_out']}: fit {r['fit_px']:.1f} px, triangulation {r['triangulation_px']:.1f} px, "
              f"ratio {r['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
