"""Novel-view avatar on the shared 4-view take: train the SMPLpix avatar on three calibrated views of one person and
render the fourth (a camera it never saw), scored inside the person region against that view's frames, beside the
copy-the-input baseline measured in the same run.

    python scripts/eval/eval_avatar_novel_view.py [--data DIR] [--test-view cam04] [--size 64] [--steps 600]
                                                  [--every 2] [--out DIR] [--json out.json]

Recipe: the multi-camera estimate of the main person (`python -m backend estimate cam01..04.mp4 --calibration ...
--stride S`, cached in OUT/motion.npz) gives the body per frame in world coordinates; it is rasterized through each
view's calibration (frames undistorted to the pinhole camera, backend/avatar/multiview_dataset.py); the training
views' frames train the network (every 8th frame held out as validation), the test view's frames at the same
instants are the test split. Defaults keep it within ~15 min on 2 CPU cores: 64-px crops, every 4th video frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

log = logging.getLogger("eval_avatar_novel_view")
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "pose2sim_multiperson"
ROWS = (("person PSNR (dB)", "person_psnr", "baseline_person_psnr"),
        ("person SSIM", "person_ssim", "baseline_person_ssim"),
        ("mask IoU", "mask_iou", "baseline_mask_iou"),
        ("sharpness ratio", "sharpness", None))


def multiview_motion(data: Path, out: Path, stride: int) -> Path:
    """The multi-camera estimate of the main person (OUT/motion.npz, made once)."""
    motion = out / "motion.npz"
    if motion.is_file():
        return motion
    calib = next(iter(sorted(data.glob("*.qca.txt")) + sorted(data.glob("*.toml"))), None)
    videos = sorted(data.glob("cam*.mp4"))
    if calib is None or len(videos) < 2:
        raise SystemExit(f"{data}: needs a calibration (*.qca.txt / *.toml) and cam*.mp4 videos; pass --data")
    cmd = [sys.executable, "-m", "backend", "estimate", *map(str, videos), "--calibration", str(calib),
           "--stride", str(stride), "-o", str(motion)]
    log.warning("estimating the take: %s", " ".join(cmd))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return motion


def table(results: dict[str, dict]) -> str:
    """Markdown table: one row per metric, avatar and copy-the-input per split."""
    head = "| metric | " + " | ".join(f"{name}: avatar | {name}: copy-input" for name in results) + " |"
    lines = [head, "|---" * (1 + 2 * len(results)) + "|"]
    for label, key, base in ROWS:
        cells = []
        for m in results.values():
            cells += [f"{m[key]:.3f}" if key != "person_psnr" else f"{m[key]:.2f}",
                      "" if base is None else (f"{m[base]:.3f}" if key != "person_psnr" else f"{m[base]:.2f}")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with the calibration and cam*.mp4")
    ap.add_argument("--motion", default=None, help="an existing multi-camera motion (default: estimate it)")
    ap.add_argument("--test-view", default="cam04", help="the held-out (novel) view")
    ap.add_argument("--size", type=int, default=64, help="crop side in pixels (multiple of 16)")
    ap.add_argument("--stride", type=int, default=2, help="video frames per motion frame of the estimate")
    ap.add_argument("--every", type=int, default=2, help="use every n-th motion frame")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--base", type=int, default=16, help="UNet width")
    ap.add_argument("--out", default="/tmp/smplpix_novel_view", help="work folder (motion, dataset, run)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the dataset")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import numpy as np

    from backend.avatar.config import TrainConfig
    from backend.avatar.evaluate import evaluate
    from backend.avatar.multiview_dataset import build_multiview_dataset, motion_views, view_index
    from backend.avatar.train import train
    from blender_addon.core.motion import Motion

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    motion = Path(a.motion) if a.motion else multiview_motion(Path(a.data), out, a.stride)
    views = motion_views(Motion.load(motion), motion)
    test = view_index(views, a.test_view)
    train_views = [v.name for k, v in enumerate(views) if k != test]
    ds = out / f"dataset_{a.size}_{views[test].name}"
    t1 = time.perf_counter()
    if a.rebuild or not (ds / "data.npz").is_file():
        frames = np.arange(0, Motion.load(motion).num_frames, a.every)
        build_multiview_dataset(motion, ds, train_views, views[test].name, size=a.size, frames=frames)
    t2 = time.perf_counter()
    run = out / f"run_{a.size}_{views[test].name}"
    cfg = TrainConfig(steps=a.steps, base=a.base, eval_every=max(1, a.steps // 4), ckpt_every=a.steps,
                      log_every=max(1, a.steps // 12))
    ckpt = train(ds, run, cfg, device="cpu", resume=False)
    t3 = time.perf_counter()
    novel = evaluate(ckpt, ds, run, "test", device="cpu")
    seen = evaluate(ckpt, ds, run, "val", device="cpu")
    meta = json.loads((ds / "meta.json").read_text())
    results = {f"novel view {views[test].name}": novel["metrics"],
               f"held-out frames of {'/'.join(train_views)}": seen["metrics"]}
    timings = {"estimate_s": t1 - t0, "dataset_s": t2 - t1, "train_s": t3 - t2, "total_s": time.perf_counter() - t0}
    print(f"novel-view avatar, {meta['counts']['train']} training crops of {', '.join(train_views)}, "
          f"{meta['counts']['test']} test crops of {views[test].name}, {a.size} px, {a.steps} steps (CPU)")
    print(table(results))
    print("timings: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"side by side (raster | render | truth): {novel['png']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "timings": timings, "size": a.size,
                                            "steps": a.steps, "counts": meta["counts"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
