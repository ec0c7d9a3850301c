"""Avatar speed: training images/s and inference frames/s at 256^2 and 512^2, torch vs onnxruntime in one run.

    python scripts/bench/bench_avatar.py                       # CPU, small iteration counts
    python scripts/bench/bench_avatar.py --device cuda --fp16  # GPU: AMP training, fp16 channels-last inference

Prints one line per measurement and the ratios (onnxruntime / torch fp32, torch fp16 / torch fp32), and writes them
as JSON with --json. The network is the default AvatarUNet (base 32, depth 4, 8 input channels), randomly
initialised: speed does not depend on the weights.
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

from backend.avatar.config import TrainConfig  # noqa: E402
from backend.avatar.train import compute_loss  # noqa: E402
from backend.avatar.unet import AvatarUNet, UNetConfig, fuse_for_inference  # noqa: E402


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, iters: int, warmup: int, dev) -> float:
    for _ in range(warmup):
        fn()
    sync(dev)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(dev)
    return (time.perf_counter() - t) / iters


def bench_train(cfg: UNetConfig, size: int, batch: int, dev, amp: bool, iters: int) -> float:
    model = AvatarUNet(cfg).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, cfg.in_channels, size, size, device=dev)
    if dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.rand(batch, 3, size, size, device=dev)
    m = (torch.rand(batch, 1, size, size, device=dev) > 0.5).float()
    v = torch.ones_like(m)
    tc = TrainConfig()
    dtype = torch.bfloat16

    def step():
        with torch.autocast(dev.type, dtype=dtype, enabled=amp):
            pred = model(x)
        loss, _ = compute_loss(pred, y, m, v, tc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch / timed(step, iters, 2, dev)


def bench_torch_infer(model, size, batch, dev, fp16: bool, iters: int, graphs: bool) -> float:
    model = fuse_for_inference(model).to(dev)
    x = torch.rand(batch, model.config.in_channels, size, size, device=dev)
    if fp16:
        model = model.half().to(memory_format=torch.channels_last)
        x = x.half().contiguous(memory_format=torch.channels_last)
    if graphs and dev.type == "cuda":
        static_x = x.clone()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s), torch.no_grad():
            for _ in range(3):
                model(static_x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g), torch.no_grad():
            model(static_x)
        return batch / timed(g.replay, iters, 3, dev)

    def run():
        with torch.no_grad():
            model(x)

    return batch / timed(run, iters, 2, dev)


def bench_onnx(model, size, batch, iters: int, fp16: bool) -> tuple[float, str]:
    import onnxruntime as ort

    from backend.avatar.infer import onnx_session, run_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unet.onnx"
        m = fuse_for_inference(AvatarUNet(model.config)).cpu()
        x = torch.zeros(1, m.config.in_channels, size, size)
        torch.onnx.export(m, (x,), str(path), dynamo=False, opset_version=17, input_names=["raster"],
                          output_names=["rgba"], dynamic_axes={"raster": {0: "batch"}, "rgba": {0: "batch"}})
        sess = onnx_session(path, fp16_trt=fp16)
        provider = sess.get_providers()[0]
        xb = np.random.rand(batch, m.config.in_channels, size, size).astype(np.float32)
        if provider == "CUDAExecutionProvider" or provider == "TensorrtExecutionProvider":
            io = sess.io_binding()
            xo = ort.OrtValue.ortvalue_from_numpy(xb, "cuda", 0)
            io.bind_ortvalue_input("raster", xo)
            io.bind_output("rgba", "cuda")

            def run():
                sess.run_with_iobinding(io)
        else:
            def run():
                run_onnx(sess, xb, batch)
        if provider == "CPUExecutionProvider":
            iters = min(iters, 2)
        for _ in range(2):
            run()
        t = time.perf_counter()
        for _ in range(iters):
            run()
        return batch / ((time.perf_counter() - t) / iters), provider


def bench_raster(size: int, batch: int, dev, iters: int) -> float:
    """Frames/s of the full input rasterization (procedural body, 2x supersampling, code + normals + coverage)."""
    from backend.avatar.body import colour_code
    from backend.bodymodels.procedural import ProceduralBody
    from backend.avatar.render import RasterSpec, raster_inputs
    from backend.avatar.synthetic import synthetic_motion

    body = ProceduralBody().to(dev)
    motion = synthetic_motion(batch, (size, size))
    with torch.no_grad():
        v = body(torch.as_tensor(motion.rotvec, dtype=torch.float32, device=dev),
                 torch.as_tensor(motion.transl, dtype=torch.float32, device=dev)).vertices
    K, R, t = (torch.as_tensor(a, dtype=torch.float32, device=dev) for a in (motion.camera.K, motion.camera.R,
                                                                             motion.camera.t))
    code = colour_code(body)

    def run():
        raster_inputs(v, K, R, t, body.faces, code, size, RasterSpec())

    return batch / timed(run, iters, 1, dev)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fp16", action="store_true", help="AMP training and fp16 inference (CUDA)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--base", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--infer-batch", type=int, default=None, help="default 32 on CUDA, 2 on CPU")
    ap.add_argument("--iters", type=int, default=None, help="default 20 on CUDA, 2 on CPU")
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    gpu = dev.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True
    iters = args.iters or (20 if gpu else 2)
    ib = args.infer_batch or (32 if gpu else 2)
    cfg = UNetConfig(in_channels=7, base=args.base, depth=args.depth)
    results: dict = {"device": torch.cuda.get_device_name() if gpu else "cpu", "torch": torch.__version__,
                     "config": vars(args)}
    for size in args.sizes:
        r: dict = {}
        if not args.no_train:
            r["train_img_s"] = bench_train(cfg, size, args.train_batch, dev, args.fp16 and gpu, iters)
        r["raster_fps"] = bench_raster(size, 16 if gpu else 2, dev, iters)
        model = AvatarUNet(cfg).eval()
        r["torch_fp32_fps"] = bench_torch_infer(model, size, ib, dev, False, iters, graphs=False)
        if args.fp16 and gpu:
            r["torch_fp16_fps"] = bench_torch_infer(AvatarUNet(cfg).eval(), size, ib, dev, True, iters, False)
            r["torch_fp16_graph_fps"] = bench_torch_infer(AvatarUNet(cfg).eval(), size, ib, dev, True, iters, True)
        if not args.no_onnx:
            r["onnx_fps"], r["onnx_provider"] = bench_onnx(model, size, ib, max(1, iters // (1 if gpu else 2)),
                                                           args.fp16)
            r["ratio_onnx_vs_torch_fp32"] = r["onnx_fps"] / r["torch_fp32_fps"]
        if "torch_fp16_fps" in r:
            r["ratio_fp16_vs_fp32"] = r["torch_fp16_fps"] / r["torch_fp32_fps"]
            r["ratio_fp16_graph_vs_fp32"] = r["torch_fp16_graph_fps"] / r["torch_fp32_fps"]
        results[str(size)] = r
        print(f"{size}^2: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()),
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
