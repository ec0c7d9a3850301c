"""Inference: ONNX export, onnxruntime sessions, and rendering the avatar for any motion to an RGBA PNG sequence
(full-frame overlays of the source video, or the network's crops)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from backend.avatar import render
from backend.avatar.body import colour_code, load_model, motion_vertices
from backend.avatar.composite import crop_box_of, frame_size, paste, write_png, write_sidecar
from backend.avatar.dataset import crop_intrinsics
from backend.avatar.raster import project
from backend.avatar.train import compose_input, load_checkpoint, predict, select_device
from backend.runtime import torch_threads
from blender_addon.core.motion import Motion

log = logging.getLogger(__name__)


def export_onnx(checkpoint: str | Path, out_path: str | Path, size: int | None = None, opset: int = 17,
                fp16: bool = False, device: str = "cpu") -> Path:
    """Write the network as ONNX: input ``raster`` (batch, C, S, S) float, output ``rgba`` (batch, 4, S, S) in
    [0, 1]; the batch axis is dynamic. ``fp16`` exports half precision (needs a CUDA device)."""
    model, state = load_checkpoint(checkpoint, device)
    size = int(size or state["data_meta"]["size"])
    x = torch.zeros(1, model.config.in_channels, size, size, device=device)
    if fp16:
        model, x = model.half(), x.half()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.stem + ".part.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=max(17, opset), input_names=["raster"],
                          output_names=["rgba"], dynamic_axes={"raster": {0: "batch"}, "rgba": {0: "batch"}})
    tmp.replace(out_path)
    out_path.with_suffix(".json").write_text(json.dumps({"size": size, "in_channels": model.config.in_channels,
                                                         "data_meta": state["data_meta"], "fp16": fp16}, indent=2))
    log.info("exported %s (%d px, opset %d) -> %s", checkpoint, size, max(17, opset), out_path)
    return out_path


def onnx_session(path: str | Path, providers: list[str] | None = None, fp16_trt: bool = True, threads: int = 0):
    """An onnxruntime session on TensorRT / CUDA when available, else CPU; ``threads``: CPU threads per run (0:
    onnxruntime's default, all cores)."""
    import onnxruntime as ort

    avail = ort.get_available_providers()
    if providers is None:
        providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in avail]
        providers.append("CPUExecutionProvider")
    opts = []
    for p in providers:
        if p == "TensorrtExecutionProvider":
            opts.append((p, {"trt_fp16_enable": fp16_trt, "trt_engine_cache_enable": True,
                             "trt_engine_cache_path": str(Path(path).parent)}))
        else:
            opts.append(p)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=so, providers=opts)


def run_onnx(session, x: np.ndarray, batch: int = 16) -> np.ndarray:
    """(N, C, S, S) float32 -> (N, 4, S, S) float32 through an onnxruntime session."""
    inp = session.get_inputs()[0]
    dtype = np.float16 if "float16" in inp.type else np.float32
    outs = [session.run(None, {inp.name: x[s:s + batch].astype(dtype)})[0] for s in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def novel_cameras(meta: dict, vertices: torch.Tensor, motion: Motion, camera: str = "track"):
    """Crop cameras (K (N,3,3), R (N,3,3), t (N,3)) to render ``vertices`` (N, V, 3) at the training scale, and
    where each crop sits in the source frame: boxes (N, 3) (x0, y0, side) source pixels, the frame size (W, H).

    ``track``: the training reference camera, translated each frame so the body sits where it sat in training
    (the box is the reference frame's); ``motion``: the motion's own cameras, with crops sized so the body has its
    training size in pixels."""
    ref = meta["reference"]
    size = int(meta["size"])
    n = vertices.shape[0]
    if camera == "track" or motion.camera is None:
        R = torch.as_tensor(ref["R"], dtype=torch.float32).expand(n, 3, 3).contiguous()
        centroid = vertices.mean(1)
        t = torch.as_tensor(ref["centroid_cam"], dtype=torch.float32)[None] - torch.einsum("ij,nj->ni", R[0], centroid)
        K = torch.as_tensor(ref["K"], dtype=torch.float32).expand(n, 3, 3).contiguous()
        box = crop_box_of(np.asarray(ref["K"]), np.asarray(ref["full_K"]), size)
        return K, R, t, np.repeat(box[None], n, 0), tuple(int(v) for v in meta["image_size"])
    cam = motion.camera
    K = torch.as_tensor(cam.K, dtype=torch.float32)
    R = torch.as_tensor(cam.R, dtype=torch.float32)
    t = torch.as_tensor(cam.t, dtype=torch.float32)
    camv, screen = project(vertices, K, R, t)
    depth = camv[..., 2].mean(1).numpy()
    fx = K[:, 0, 0].numpy()
    ref_K = np.asarray(ref["full_K"])
    side = ref["crop_side"] * (fx / ref_K[0, 0]) * (ref["centroid_cam"][2] / depth)
    xy = screen[..., :2].numpy()
    centre = (xy.min(1) + xy.max(1)) / 2
    boxes = np.stack([np.floor(centre[:, 0] - side / 2), np.floor(centre[:, 1] - side / 2), np.ceil(side)], 1)
    boxes = boxes.astype(int)
    Kc = torch.as_tensor(crop_intrinsics(cam.K, boxes, size), dtype=torch.float32)
    return Kc, R, t, boxes.astype(np.float64), tuple(int(v) for v in cam.image_size)


def _sub_motion(motion: Motion, sel: np.ndarray) -> Motion:
    """The frames ``sel`` of a motion (pose, translation, camera)."""
    cam = motion.camera
    return Motion(model=motion.model, fps=motion.fps, joint_names=motion.joint_names, rotvec=motion.rotvec[sel],
                  transl=motion.transl[sel], camera=None if cam is None else type(cam)(
                      K=cam.K[sel], R=cam.R[sel], t=cam.t[sel], image_size=cam.image_size))


def _alpha(out: torch.Tensor, cov: torch.Tensor, mode: str, size: int) -> torch.Tensor:
    """(B, 1, S, S) alpha: the network's matte limited to a wide band around the body (``predicted``: no stray
    haze) or the body raster's coverage (``raster``)."""
    if mode == "raster":
        return cov
    r = max(1, int(round(0.06 * size)))
    band = torch.nn.functional.max_pool2d((cov > 0.05).float(), 2 * r + 1, stride=1, padding=r)
    return out[:, 3:4] * band


@dataclasses.dataclass(frozen=True, eq=False)
class _RenderJob:
    """What every batch of :func:`render_motion` shares (read-only, so batches can run on parallel workers)."""

    net: torch.nn.Module
    session: object | None
    meta: dict
    body: object
    code: torch.Tensor
    motion: Motion
    betas: np.ndarray | None
    camera: str
    background: torch.Tensor
    alpha: str
    frame: str
    frame_scale: float
    out_dir: Path
    amp: bool


def _render_batch(job: _RenderJob, sel: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Render and write the frames ``sel``; returns their crop boxes (len(sel), 3) and the source frame size."""
    size = int(job.meta["size"])
    verts = motion_vertices(job.body, job.motion, sel, betas=job.betas)
    K, R, t, boxes, image_size = novel_cameras(job.meta, verts, _sub_motion(job.motion, sel), job.camera)
    x, cov = render.raster_inputs(verts, K, R, t, job.body.faces, job.code, size,
                                  render.RasterSpec(**job.meta["raster"]))
    x = compose_input(x, job.background.expand(len(sel), -1, -1, -1))
    if job.session is not None:
        out = torch.from_numpy(run_onnx(job.session, x.numpy(), len(sel)))
    else:
        out = predict(job.net, x, len(sel), amp=job.amp)
    rgba = torch.cat([out[:, :3], _alpha(out, cov, job.alpha, size)], 1).permute(0, 2, 3, 1).clamp(0, 1).numpy()
    for i, img, box in zip(sel, rgba, boxes):
        full = job.frame == "full"
        write_png(job.out_dir / f"{i:05d}.png", paste(img, box, image_size, job.frame_scale) if full else img)
    return boxes, image_size


def render_workers(device: torch.device, workers: int = 0) -> int:
    """Parallel render workers: ``workers`` when given, else one single-threaded worker per CPU core (at most 4) on
    the CPU (each runs its own batch: no threads spinning on a shared machine) and one on a GPU."""
    if workers > 0:
        return workers
    return 1 if device.type != "cpu" else max(1, min(4, os.cpu_count() or 1))


def render_motion(checkpoint: str | Path, motion_path: str | Path, out_dir: str | Path, onnx: str | Path | None = None,
                  betas: np.ndarray | None = None, camera: str = "auto", background=(0.0, 0.0, 0.0),
                  alpha: str = "predicted", device: str = "auto", batch: int = 16, model_dir: str | None = None,
                  frame: str = "full", frame_scale: float = 1.0, progress: Callable | None = None,
                  workers: int = 0) -> Path:
    """Render the avatar for every frame of ``motion_path`` into ``out_dir/%05d.png`` (RGBA, straight alpha).

    frame: ``full`` puts each crop where the person is in the source frame, at the source video's size times
    ``frame_scale`` (the network runs at its training resolution; the crop is resampled to its box), transparent
    elsewhere: an overlay for the video plate. ``crop``: the network's square crops. camera: ``motion`` (the
    motion's own camera), ``track`` (the training reference camera following the body), ``auto`` (``motion``
    when the motion has a camera). onnx: run that exported network with onnxruntime instead of torch. betas: shape
    override. alpha: 'predicted' (the network's matte) or 'raster' (the body coverage). workers: batches rendered
    side by side (0: see :func:`render_workers`); on the CPU each worker runs one thread. Also writes
    ``out_dir/frames.json`` (frame size, crop boxes, camera mode). Returns ``out_dir``."""
    if frame not in ("full", "crop"):
        raise ValueError(f"frame {frame!r}: use 'full' (source-sized overlay) or 'crop' (the network's crops).")
    if not 0 < frame_scale <= 4:
        raise ValueError(f"frame scale {frame_scale}: use a value in (0, 4] (1 = the source video's size).")
    dev = select_device(device)
    net, state = load_checkpoint(checkpoint, dev)
    from backend.avatar.face_render import check_subject

    check_subject(checkpoint, state, "body")  # a face avatar renders with face_render.render_face_motion
    meta = state["data_meta"]
    size = int(meta["size"])
    motion = Motion.load(motion_path)
    if meta.get("model") and motion.model not in (meta["model"], "unknown"):
        raise ValueError(f"{checkpoint}: the avatar was trained with body model {meta['model']!r}, but "
                         f"{motion_path} is a {motion.model!r} motion; estimate or retarget the motion with "
                         f"{meta['model']!r}, or train an avatar for {motion.model!r}.")
    body = load_model(meta.get("model", motion.model), model_dir=model_dir, gender=motion.gender)
    if motion.rotvec.shape[1] != body.num_joints:
        raise ValueError(f"{motion_path}: {motion.rotvec.shape[1]} joints, but the avatar was trained with "
                         f"{body.name!r} ({body.num_joints} joints); retarget the motion to that body model first.")
    if camera == "auto":
        camera = "motion" if motion.camera is not None else "track"
    if betas is None and meta.get("betas") is not None:
        betas = np.asarray(meta["betas"], np.float32)
    nworkers = render_workers(dev, workers)
    session = onnx_session(onnx, threads=1 if nworkers > 1 else 0) if onnx else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = _RenderJob(net=net, session=session, meta=meta, body=body, code=colour_code(body), motion=motion,
                     betas=betas, camera=camera, background=torch.as_tensor(background, dtype=torch.float32).view(
                         1, 3, 1, 1), alpha=alpha, frame=frame, frame_scale=frame_scale, out_dir=out_dir,
                     amp=dev.type == "cuda")
    n = motion.num_frames
    step = max(1, min(batch, -(-n // nworkers)))  # every worker gets a batch
    batches = [np.arange(s, min(n, s + step)) for s in range(0, n, step)]
    all_boxes, image_size = [], None
    with torch_threads(1) if nworkers > 1 else contextlib.nullcontext(), ThreadPoolExecutor(nworkers) as pool:
        for sel, (boxes, image_size) in zip(batches, pool.map(lambda sel: _render_batch(job, sel), batches)):
            all_boxes.append(boxes)
            if progress:
                progress("render", int(sel[-1]) + 1, n, f"frame {int(sel[-1]) + 1}/{n}")
    W, H = frame_size(image_size, frame_scale) if frame == "full" else (size, size)
    write_sidecar(out_dir, {"frames": n, "pattern": "%05d.png", "frame": frame, "width": W, "height": H,
                            "source_size": list(image_size), "frame_scale": frame_scale, "camera": camera,
                            "fps": float(motion.fps), "network_size": size,
                            "crop_boxes": np.concatenate(all_boxes).round(3).tolist()})
    log.info("rendered %d %s frames (%dx%d) of %s -> %s", n, frame, W, H, motion_path, out_dir)
    return out_dir


__all__ = ["export_onnx", "onnx_session", "run_onnx", "render_motion", "novel_cameras"]
