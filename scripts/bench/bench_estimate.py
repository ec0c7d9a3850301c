"""Benchmark of the estimate on the shared video at full resolution (CPU unless --device cuda):

- detection frames/s (MediaPipe Holistic on person crops, no cache),
- fitting frames/s (whole-sequence batched fit),
- end-to-end frames/s (decode + detect + fit + write the motion; the default path, where the fit of windows of
  frames overlaps detection: backend/fitting/streaming.py), and its ratio to detection alone (target >= 0.9x;
  detection alone is measured just before and just after the end-to-end run and averaged, so load drift on a
  shared machine hits both; the imports are warmed first for both),
- baseline: a per-frame SMPLify-style fit (full body-model forward, L-BFGS per frame, same losses' 2D term),
  measured in the same run on a subset of frames; the printed ratios compare against it.

    python scripts/bench/bench_estimate.py [--video PATH] [--frames N] [--baseline-frames 20] [--device cpu]
        [--sequential]  (also time the fit-after-detection path in the same run)

The load average is printed before and after: on a shared machine compare the ratios, not the frames/s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

log = logging.getLogger("bench_estimate")
VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "jump_outdoor_1768x994_30fps.mp4"
TARGET_E2E_RATIO = 0.9  # end-to-end throughput / detection-alone throughput


def smplify_per_frame(kp, model, frames: np.ndarray, iters: int = 30, device: str = "cpu") -> float:
    """Seconds to fit ``frames`` one at a time with L-BFGS on the full model (SMPLify-style baseline):
    global rotation, translation and body pose; robust 2D reprojection + pose prior; warm start from the previous
    frame."""
    from backend.fitting.correspondences import body_correspondences, model_axes
    from backend.fitting.init import initial_global

    rig = model.rig_spec()
    body = body_correspondences(rig)
    left, up, fwd = model_axes(rig)
    R0 = np.stack([left, -up, -fwd])
    W, H = kp.image_size
    f = 0.9 * max(W, H)
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    R_init, T_init = initial_global(kp, rig, body, R0, K)
    from backend.fitting.skeleton import matrix_to_rotvec

    root_init = matrix_to_rotvec(torch.as_tensor(R_init)).float()
    R0_t = torch.as_tensor(R0, dtype=torch.float32, device=device)
    J = model.num_joints
    jidx = torch.as_tensor(np.maximum(body.joint, 0), device=device)
    vidx = torch.as_tensor(np.maximum(body.vertex, 0), device=device)
    is_joint = torch.as_tensor(body.joint >= 0, device=device)[:, None]
    pose = torch.zeros(1, J, 3, device=device)
    t0 = time.perf_counter()
    for i in frames:
        tgt = torch.as_tensor(kp.body[i, body.source_index], dtype=torch.float32, device=device)
        pose = pose.detach().clone()
        pose[0, 0] = root_init[i]
        pose.requires_grad_(True)
        transl = torch.as_tensor(T_init[i:i + 1], dtype=torch.float32, device=device).requires_grad_(True)
        opt = torch.optim.LBFGS([pose, transl], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            out = model(pose, transl)
            P = torch.where(is_joint, out.joints[0, jidx], out.vertices[0, vidx])
            cam = P @ R0_t.T
            uv = cam[:, :2] / cam[:, 2:].clamp_min(0.1) * f + torch.tensor([W / 2, H / 2], device=device)
            r2 = ((uv - tgt[:, :2]) ** 2).sum(-1)
            loss = (tgt[:, 2] * 100.0 ** 2 * r2 / (100.0 ** 2 + r2)).sum() + 1e3 * (pose[0, 1:] ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(VIDEO))
    ap.add_argument("--frames", type=int, default=None, help="first N frames only (default: all)")
    ap.add_argument("--baseline-frames", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    ap.add_argument("--stream", choices=("auto", "always"), default="auto",
                    help="auto: the default path (streams when a core is spare); always: stream even on a loaded CPU")
    ap.add_argument("--sequential", action="store_true",
                    help="also time the end-to-end run with the fit after detection (the path before streaming)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from backend.bodymodels import load_body_model
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.fitting.fit import fit_keypoints
    from backend.perception.detect import detect_keypoints
    from backend.perception.frames import FrameRange
    from backend.perception.postprocess import fix_left_right_swaps

    video = Path(a.video)
    if not video.is_file():
        print(f"{video}: no such video; pass --video", file=sys.stderr)
        return 2
    rng = FrameRange(0, a.frames, 1)
    import mediapipe  # noqa: F401  (warm imports: detection alone runs with them loaded too)

    import backend.bodymodels.anny_model  # noqa: F401

    load = [os.getloadavg()[0]]
    res: dict = {"video": str(video), "device": a.device, "torch_threads": torch.get_num_threads(),
                 "cpu_count": os.cpu_count()}

    cores_used: dict = {}

    def detect_alone() -> tuple[float, object]:
        t, c = time.perf_counter(), time.process_time()
        kp = detect_keypoints(video, rng)
        cores_used.setdefault("detection", (time.process_time() - c) / (time.perf_counter() - t))
        return kp.num_frames / (time.perf_counter() - t), kp

    before, _ = detect_alone()
    with tempfile.TemporaryDirectory() as tmp:  # no detections cache: detection runs inside
        from backend.fitting.streaming import StreamSettings, spare_cores

        res["spare_cores_at_start"] = spare_cores()
        ss = StreamSettings(min_spare_cores=0) if a.stream == "always" else StreamSettings()
        t, c = time.perf_counter(), time.process_time()
        out = estimate(EstimateRequest(input=video, output=Path(tmp) / "m.npz", frames=rng, device=a.device,
                                       stream_settings=ss))
        e2e = time.perf_counter() - t
        cores_used["end_to_end"] = (time.process_time() - c) / e2e
        n = int(np.load(Path(tmp) / "m.npz")["rotvec"].shape[0])
        res.update(frames=n, end_to_end_fps=n / e2e, end_to_end_s=e2e, metrics=out.metrics,
                   streamed=bool(out.timings.get("streamed")), windows=out.timings.get("windows", 0))
    if a.sequential:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            seq = estimate(EstimateRequest(input=video, output=Path(tmp) / "m.npz", frames=rng, device=a.device,
                                           stream=False))
            res.update(sequential_fps=n / (time.perf_counter() - t), sequential_metrics=seq.metrics)
    after, kp = detect_alone()
    load.append(os.getloadavg()[0])
    res.update(detect_fps=0.5 * (before + after), detect_fps_before=before, detect_fps_after=after)
    res["end_to_end_vs_detection"] = res["end_to_end_fps"] / res["detect_fps"]
    kp, _ = fix_left_right_swaps(kp)
    model = load_body_model("anny", device=a.device)
    t = time.perf_counter()
    fit_keypoints(kp, model)
    res["fit_fps"] = kp.num_frames / (time.perf_counter() - t)
    frames = np.nonzero(kp.found)[0][: a.baseline_frames]
    torch.set_num_threads(1)
    sec = smplify_per_frame(kp, model, frames, device=a.device)
    res["baseline_fit_fps"] = len(frames) / sec
    res["fit_speedup_vs_baseline"] = res["fit_fps"] / res["baseline_fit_fps"]
    base_e2e = 1.0 / (1.0 / res["detect_fps"] + 1.0 / res["baseline_fit_fps"])
    res["baseline_end_to_end_fps"] = base_e2e
    res["end_to_end_speedup_vs_baseline"] = res["end_to_end_fps"] / base_e2e
    print(f"detection   {res['detect_fps']:.1f} frames/s")
    print(f"fitting     {res['fit_fps']:.1f} frames/s   (per-frame SMPLify-style L-BFGS: "
          f"{res['baseline_fit_fps']:.2f} frames/s; ratio {res['fit_speedup_vs_baseline']:.1f}x)")
    print(f"end to end  {res['end_to_end_fps']:.1f} frames/s over {res['frames']} frames "
          f"(baseline pipeline {base_e2e:.2f} frames/s; ratio {res['end_to_end_speedup_vs_baseline']:.1f}x); "
          + (f"fit streamed in {res['windows']} windows" if res["streamed"] else
             f"fit after detection ({res['spare_cores_at_start']:.1f} cores spare; --stream always to overlap)"))
    if a.sequential:
        print(f"sequential  {res['sequential_fps']:.1f} frames/s end to end with the fit after detection "
              f"(streamed / sequential: {res['end_to_end_fps'] / res['sequential_fps']:.2f}x)")
    load.append(os.getloadavg()[0])
    res["load_average"], res["cores_used"] = load, cores_used
    print(f"cores used (CPU time / wall time): detection alone {cores_used['detection']:.2f}, end to end "
          f"{cores_used['end_to_end']:.2f} (the overlap needs the second: about 1 and 2 on an idle 2-core machine)")
    ratio = res["end_to_end_vs_detection"]
    print(f"end to end / detection alone: {ratio:.2f}x (detection alone {before:.1f} before, {after:.1f} after "
          f"frames/s); target >= {TARGET_E2E_RATIO}x: {'MET' if ratio >= TARGET_E2E_RATIO else 'NOT MET'}")
    print(f"load average (1 min) at start / after the end-to-end run / at the end: "
          f"{' / '.join(f'{v:.1f}' for v in load)} on {os.cpu_count()} cores")
    print(json.dumps(res, indent=2, default=float))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
