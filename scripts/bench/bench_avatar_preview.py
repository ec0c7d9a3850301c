"""Avatar preview speed on the CPU: frames/s of rendering a motion at 256 px, rasterize -> network -> full-frame
RGBA, with the baseline (the pair-by-pair rasterizer, torch fp32 eager, one frame at a time) measured in the same run.

    OMP_NUM_THREADS=2 python scripts/bench/bench_avatar_preview.py            # 256 px, Anny, 2 threads
    python scripts/bench/bench_avatar_preview.py --size 128 --model procedural --frames 8

Prints per-stage wall and CPU milliseconds per frame, the baseline and optimised frames/s, their ratio and the 5 fps
target (256 px CPU preview on 2 cores), with the load average. On a shared machine the wall figure measures the
contention; the CPU-time figure (frames / (process CPU seconds / threads)) is what 2 idle cores would give. The
network is an AvatarUNet of width ``--base``, randomly initialised (speed does not depend on the weights); the
optimised path runs ``--threads`` single-threaded workers side by side, each rasterizing a batch with tiles and
running the network through onnxruntime with BatchNorm folded in (``--engine torch``: torch with BatchNorm folded,
channels_last, inference_mode); the baseline spreads each operation over ``--threads`` threads, which on a
loaded machine spin and wait.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend.avatar import render  # noqa: E402
from backend.avatar.body import colour_code, load_model, motion_vertices  # noqa: E402
from backend.avatar.composite import paste  # noqa: E402
from backend.avatar.unet import AvatarUNet, UNetConfig, fuse_for_inference  # noqa: E402
from backend.avatar.synthetic import synthetic_motion  # noqa: E402

TARGET_FPS = 5.0


def cameras(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop cameras looking at a standing body 3 m away, the body filling ~80 % of the crop."""
    f = size * 1.5
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]]).expand(n, 3, 3)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(n, 3, 3)
    t = torch.tensor([0.0, 0.9, 3.0]).expand(n, 3)
    return K.contiguous(), R.contiguous(), t.contiguous()


def optimised_network(net, a, channels: int):
    """A callable (B, C, S, S) -> (B, 4, S, S) running ``net`` with BatchNorm folded: onnxruntime (``a.engine``
    ort) or torch channels_last under inference_mode."""
    fused = fuse_for_inference(net)
    if a.engine == "torch":
        fused = fused.to(memory_format=torch.channels_last)

        def run_torch(x):
            with torch.inference_mode():
                return fused(x.contiguous(memory_format=torch.channels_last)).contiguous()

        run_torch(torch.zeros(a.batch, channels, a.size, a.size))
        return run_torch
    import onnxruntime as ort

    buf = io.BytesIO()
    torch.onnx.export(fused, (torch.zeros(1, channels, a.size, a.size),), buf, dynamo=False, opset_version=17,
                      input_names=["raster"], output_names=["rgba"],
                      dynamic_axes={"raster": {0: "batch"}, "rgba": {0: "batch"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # one worker thread per core runs its own batch (thread-safe session)
    sess = ort.InferenceSession(buf.getvalue(), sess_options=so, providers=["CPUExecutionProvider"])
    sess.run(None, {"raster": np.zeros((a.batch, channels, a.size, a.size), np.float32)})
    return lambda x: torch.from_numpy(sess.run(None, {"raster": x.numpy()})[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--model", default="anny")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base", type=int, default=32, help="network width at full resolution (the UNet's base)")
    ap.add_argument("--engine", default="ort", choices=("ort", "torch"), help="optimised network engine")
    ap.add_argument("--frame-size", type=int, nargs=2, default=[1768, 994], help="full-frame output W H")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    body = load_model(a.model)
    motion = synthetic_motion(frames=a.frames) if a.model == "procedural" else None
    n = a.frames
    if motion is not None:
        verts = motion_vertices(body, motion)
    else:
        with torch.no_grad():
            verts = body(body.zero_pose(n)).vertices.float()
    code = colour_code(body)
    spec = render.RasterSpec()
    K, R, t = cameras(n, a.size)
    net = AvatarUNet(UNetConfig(in_channels=spec.num_channels, base=a.base)).eval()
    box = np.array([700.0, 200.0, 600.0])

    def raster(sl, tiles=(2, 4, 8, 16)):
        return render.raster_inputs(verts[sl], K[sl], R[sl], t[sl], body.faces, code, a.size, spec, tiles)

    def composite(out):
        rgba = out.permute(0, 2, 3, 1).clamp(0, 1).numpy()
        return [paste(img, box, tuple(a.frame_size)) for img in rgba]

    stages, cpu, lock = {}, {}, threading.Lock()

    def run(name, fn):
        # CPU clock: the whole process for the sequential baseline (its OpenMP threads included), this worker's
        # thread for the optimised workers
        clock = time.process_time if name.startswith("baseline") else time.thread_time
        t0, c0 = time.perf_counter(), clock()
        res = fn()
        with lock:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
            cpu[name] = cpu.get(name, 0.0) + clock() - c0
        return res

    load_before = os.getloadavg()[0]
    raster(slice(0, 1))  # warm-up
    with torch.no_grad():
        net(torch.zeros(1, spec.num_channels, a.size, a.size))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):  # baseline: pair-by-pair rasterizer, one frame at a time, torch eager fp32
            x, _ = run("baseline raster", lambda: raster(slice(i, i + 1), tiles=()))
            out = run("baseline network", lambda: net(x))
            run("baseline full frame", lambda: composite(out))
        base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    torch.set_num_threads(1)  # the optimised path: one single-threaded worker per core, no OpenMP spinning
    network = optimised_network(net, a, spec.num_channels)

    def batch_job(sl):
        x, _ = run("optimised raster", lambda: raster(sl))
        out = run("optimised network", lambda: network(x))
        return run("optimised full frame", lambda: composite(out))

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(a.threads) as pool:
        frames = [f for batch in pool.map(batch_job, [slice(s, min(n, s + a.batch)) for s in range(0, n, a.batch)])
                  for f in batch]
    opt_s, opt_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(frames) == n
    base_fps, opt_fps = n / base_s, n / opt_s
    base_cfps, opt_cfps = n * a.threads / base_cpu, n * a.threads / opt_cpu
    report = {"size": a.size, "model": a.model, "frames": n, "threads": a.threads, "base": a.base,
              "engine": a.engine, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "ms_per_frame": {k: round(1000 * v / n, 1) for k, v in stages.items()},
              "cpu_ms_per_frame": {k: round(1000 * v / n, 1) for k, v in cpu.items()},
              "baseline_fps": round(base_fps, 2), "optimised_fps": round(opt_fps, 2),
              "ratio": round(opt_fps / base_fps, 2), "baseline_cpu_fps": round(base_cfps, 2),
              "optimised_cpu_fps": round(opt_cfps, 2), "cpu_ratio": round(opt_cfps / base_cfps, 2),
              "target_fps": TARGET_FPS, "target_met": opt_fps >= TARGET_FPS,
              "target_met_cpu_time": opt_cfps >= TARGET_FPS}
    for k, v in report["ms_per_frame"].items():
        print(f"{k:>22}: {v:8.1f} ms/frame wall (summed over workers), {report['cpu_ms_per_frame'][k]:8.1f} ms/frame CPU")
    print(f"{a.size} px preview, {a.threads} threads, width {a.base}, load average {load_before:.1f}: baseline (pair "
          f"rasterizer, torch eager, batch 1) {base_fps:.2f} fps, optimised (tiled rasterizer, {a.engine}, batch "
          f"{a.batch}, {a.threads} one-thread workers) {opt_fps:.2f} fps = {opt_fps / base_fps:.2f}x wall; from CPU time ({a.threads} idle cores) "
          f"{base_cfps:.2f} -> {opt_cfps:.2f} fps = {opt_cfps / base_cfps:.2f}x; target {TARGET_FPS} fps "
          f"{'met' if report['target_met'] else 'NOT met'} (wall), "
          f"{'met' if report['target_met_cpu_time'] else 'NOT met'} (CPU time)")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
