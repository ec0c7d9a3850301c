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
          f"{j['world_mpjpe_mm']:.1f} mm, PA-MPJPE {j['pa_mpjpe_mm']:.1f} mm ({j['points']} landmark points)")
    for r in report["leave_one_out"]:
        print(f"(b) held out {r['held_out']}: fit {r['fit_px']:.1f} px, triangulation {r['triangulation_px']:.1f} px, "
              f"ratio {r['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
