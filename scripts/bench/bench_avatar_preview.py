"""Avatar preview speed on the CPU: frames/s of rendering a motion at 256 px, rasterize -> network -> full-frame
RGBA, with the baseline (torch fp32 eager, one frame at a time) measured in the same run.

    OMP_NUM_THREADS=2 python scripts/bench/bench_avatar_preview.py            # 256 px, Anny, 2 threads
    python scripts/bench/bench_avatar_preview.py --size 128 --model procedural --frames 8

Prints per-stage milliseconds per frame, the baseline and optimised frames/s, their ratio and the 5 fps target
(256 px CPU preview on 2 cores). The network is a default AvatarUNet, randomly initialised (speed does not depend
on the weights); the optimised path runs it batched through onnxruntime with BatchNorm folded in.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--model", default="anny")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
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
    net = AvatarUNet(UNetConfig(in_channels=spec.num_channels)).eval()
    box = np.array([700.0, 200.0, 600.0])

    def raster(sl):
        return render.raster_inputs(verts[sl], K[sl], R[sl], t[sl], body.faces, code, a.size, spec)

    def composite(out):
        rgba = out.permute(0, 2, 3, 1).clamp(0, 1).numpy()
        return [paste(img, box, tuple(a.frame_size)) for img in rgba]

    stages = {}

    def run(name, fn):
        t0 = time.perf_counter()
        res = fn()
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
        return res

    raster(slice(0, 1))  # warm-up
    with torch.no_grad():
        net(torch.zeros(1, spec.num_channels, a.size, a.size))
        t0 = time.perf_counter()
        for i in range(n):  # baseline: one frame at a time, torch eager fp32
            x, _ = run("baseline raster", lambda: raster(slice(i, i + 1)))
            out = run("baseline network", lambda: net(x))
            run("baseline full frame", lambda: composite(out))
        base_s = time.perf_counter() - t0
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.onnx"
        torch.onnx.export(fuse_for_inference(net), (torch.zeros(1, spec.num_channels, a.size, a.size),), str(path),
                          dynamo=False, opset_version=17, input_names=["raster"], output_names=["rgba"],
                          dynamic_axes={"raster": {0: "batch"}, "rgba": {0: "batch"}})
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        sess.run(None, {"raster": np.zeros((a.batch, spec.num_channels, a.size, a.size), np.float32)})
        t0 = time.perf_counter()
        for s in range(0, n, a.batch):
            sl = slice(s, min(n, s + a.batch))
            x, _ = run("optimised raster", lambda: raster(sl))
            out = run("optimised network", lambda: torch.from_numpy(sess.run(None, {"raster": x.numpy()})[0]))
            run("optimised full frame", lambda: composite(out))
        opt_s = time.perf_counter() - t0
    base_fps, opt_fps = n / base_s, n / opt_s
    report = {"size": a.size, "model": a.model, "frames": n, "threads": a.threads,
              "ms_per_frame": {k: round(1000 * v / n, 1) for k, v in stages.items()},
              "baseline_fps": round(base_fps, 2), "optimised_fps": round(opt_fps, 2),
              "ratio": round(opt_fps / base_fps, 2), "target_fps": TARGET_FPS, "target_met": opt_fps >= TARGET_FPS}
    for k, v in report["ms_per_frame"].items():
        print(f"{k:>22}: {v:8.1f} ms/frame")
    print(f"{a.size} px preview, {a.threads} threads: baseline (torch eager, batch 1) {base_fps:.2f} fps, "
          f"optimised (onnxruntime, batch {a.batch}) {opt_fps:.2f} fps = {opt_fps / base_fps:.2f}x; target "
          f"{TARGET_FPS} fps {'met' if report['target_met'] else 'NOT met'}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
