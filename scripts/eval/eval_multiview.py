"""Real-footage accuracy: each camera of a calibrated multi-view take is fitted monocularly in turn and compared
with the 12 major landmarks (shoulders, elbows, wrists, hips, knees, ankles) triangulated robustly from the OTHER
views, beside MediaPipe's own 3D world landmarks from the same detections, measured in the same run.

    python scripts/eval/eval_multiview.py [--data DIR] [--cameras cam01,cam03] [--json out.json] [--fit '{...}']

PA-MPJPE: mean landmark error after a per-frame similarity alignment (Umeyama), mm; flexion: mean absolute error
of the elbow and knee flexion angles, degrees. The fit is measured on its landmarks in MediaPipe's definition (the
model's vertex regressor, backend/fitting/regressor.py); "fit joints" uses the model's joint centres instead.
"2D floor": the held-out view's own 2D landmarks placed at the reference's depth, i.e. what a method that follows
this view's detections keeps of error even with perfect depth. Reference points that break the person's skeleton
(a segment over 30 % off its median length: a mis-triangulation) are dropped for every method alike.
Detections (tracked person and every person per view) are cached under the project cache dir.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

log = logging.getLogger("eval_multiview")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "pose2sim_multiperson"
METHODS = ("fit", "fit joints", "mediapipe", "2D floor")


def fitted_landmarks(video: Path, model, cache: Path, fit_overrides: dict, tmp: Path) -> tuple[dict, float]:
    """Run the project's estimate on ``video``: ({"fit": (F, 12, 3), "fit joints": (F, 12, 3)}, seconds)."""
    import dataclasses

    from backend.fitting.correspondences import BODY_JOINTS, find_joint
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.fitting.evaluation import MAJOR, model_landmarks
    from backend.fitting.fit import FitSettings
    from backend.fitting.regressor import mediapipe_regressor
    from blender_addon.core.motion import Motion

    t = time.perf_counter()
    out = tmp / f"{video.stem}.npz"
    estimate(EstimateRequest(input=video, output=out, cache_dir=cache,
                             fit=dataclasses.replace(FitSettings(), **fit_overrides)))
    secs = time.perf_counter() - t
    m = Motion.load(out)
    names = list(model.joint_names)
    joints = [find_joint(names, BODY_JOINTS[int(i)][0], "") for i in MAJOR]
    onehot = np.zeros((len(MAJOR), model.num_joints))
    onehot[np.arange(len(MAJOR)), joints] = 1.0
    reg = mediapipe_regressor(model, tuple(int(i) for i in MAJOR))
    pts = model_landmarks(model, m.rotvec, m.transl, m.betas, reg, joints=onehot)
    return {"fit": pts[0], "fit joints": pts[1]}, secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with Calib.qca.txt (or a .toml) and cam*.mp4")
    ap.add_argument("--cameras", default=None, help="comma-separated camera names to hold out (default: all)")
    ap.add_argument("--fit", default="{}", help='FitSettings overrides as JSON, e.g. \'{"w_3d": 30}\'')
    ap.add_argument("--cache-dir", default=None, help="detections cache (default: the project cache dir)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from backend.bodymodels import load_body_model
    from backend.bodymodels.rig_cache import cache_dir
    from backend.fitting.evaluation import MAJOR, consistent_bones, heldout_floor, multiview_reference, pooled
    from backend.fitting.evaluation import score_camera
    from backend.perception.calibration import read_calibration
    from backend.perception.candidates import detect_people
    from backend.perception.detect import detect_keypoints

    data = Path(a.data)
    calib = next(iter(sorted(data.glob("*.qca.txt")) + sorted(data.glob("*.toml"))), None)
    if calib is None:
        print(f"{data}: no calibration (*.qca.txt or *.toml); pass --data", file=sys.stderr)
        return 2
    cams = read_calibration(calib)
    videos = [data / f"{c.name}.mp4" for c in cams]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"missing videos: {', '.join(missing)}", file=sys.stderr)
        return 2
    cache = Path(a.cache_dir) if a.cache_dir else cache_dir() / "detections"
    model = load_body_model("anny")
    t0 = time.perf_counter()
    tracked = [detect_keypoints(v, cache_dir=cache) for v in videos]
    # Each view offers its tracked person (full-resolution crops) and every person found on the whole frame.
    people = [np.concatenate([np.where(k.found[:, None, None], k.body, 0.0)[:, None], detect_people(v, cache_dir=cache)[1]],
                             1) for v, k in zip(videos, tracked)]
    t_detect = time.perf_counter() - t0
    held = [c.name for c in cams] if a.cameras is None else a.cameras.split(",")
    scores, strict, fit_s = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in held:
            c = [x.name for x in cams].index(name)
            est, secs = fitted_landmarks(videos[c], model, cache, json.loads(a.fit), Path(tmp))
            fit_s += secs
            mp_world = np.where(tracked[c].found[:, None, None], tracked[c].body_world[:, MAJOR].astype(float), np.nan)
            for refs, kw in ((scores, {}), (strict, {"max_error_px": 30.0, "min_views": 3})):
                ref = consistent_bones(multiview_reference(cams, c, tracked[c].body, people, **kw))
                floor = heldout_floor(cams[c], tracked[c].body, ref)
                refs.append(score_camera(name, ref, {**est, "mediapipe": mp_world, "2D floor": floor}))
    report(scores, cams)
    res = {"cameras": {s.name: s.summary() for s in scores}, "overall": pooled(scores),
           "overall_3_views": pooled(strict), "detect_s": t_detect, "fit_s": fit_s}
    o3 = res["overall_3_views"]
    print("reference points confirmed by 3 views (reprojection < 30 px): " + ", ".join(
        f"{m} {o3[m]['pa_mpjpe_mm']:.1f} mm / {o3[m]['flexion_deg']:.1f} deg" for m in METHODS) +
        f" ({o3['fit']['valid_joints']} joints)")
    o = res["overall"]
    res["ratio_pa_mpjpe"] = o["fit"]["pa_mpjpe_mm"] / o["mediapipe"]["pa_mpjpe_mm"]
    res["ratio_flexion"] = o["fit"]["flexion_deg"] / o["mediapipe"]["flexion_deg"]
    res["floor_ratio_pa_mpjpe"] = o["2D floor"]["pa_mpjpe_mm"] / o["mediapipe"]["pa_mpjpe_mm"]
    print(f"\noverall: fit / MediaPipe world landmarks: PA-MPJPE {res['ratio_pa_mpjpe']:.2f}x, "
          f"flexion {res['ratio_flexion']:.2f}x  (fit {fit_s:.0f} s, detections {t_detect:.0f} s); "
          f"the 2D floor is {res['floor_ratio_pa_mpjpe']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


def report(scores: list, cams: list) -> None:
    from backend.fitting.evaluation import pooled

    print(f"{'camera':8} {'method':11} {'PA-MPJPE mm':>11} {'flexion deg':>11} {'joints':>7} {'frames':>6}  "
          f"reference: views/joint, reproj px, held-out px")
    rows = [(s.name, s.summary(), s.reference) for s in scores] + [("all", pooled(scores), None)]
    for name, summ, ref in rows:
        for k, m in enumerate(METHODS):
            r = summ[m]
            extra = ""
            if ref is not None and k == 0:
                v = ref.views[ref.valid].sum(-1)
                extra = (f"  {v.mean():.2f}, {np.nanmedian(ref.error_px):.1f}, {np.nanmedian(ref.heldout_px):.1f}"
                         if len(v) else "  -")
            print(f"{name if k == 0 else '':8} {m:11} {r['pa_mpjpe_mm']:11.1f} {r['flexion_deg']:11.1f} "
                  f"{r['valid_joints']:7d} {r['frames']:6d}{extra}")


if __name__ == "__main__":
    sys.exit(main())
