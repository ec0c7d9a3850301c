"""``python -m backend avatar train | eval | render | export-onnx``."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def add_commands(subparsers) -> None:
    from backend.avatar.config import TrainConfig

    p = subparsers.add_parser("avatar", help="SMPLpix neural avatar: train, evaluate, render, export")
    sub = p.add_subparsers(dest="avatar_command", required=True)

    t = sub.add_parser("train", help="build the dataset from video + motion (once) and train the network")
    t.add_argument("--video", help="video file or image folder (needed unless OUT/dataset exists or --dataset)")
    t.add_argument("--motion", help="motion .npz with camera, fitted to the video")
    t.add_argument("--dataset", help="an existing dataset folder (default OUT/dataset)")
    t.add_argument("--out", required=True, help="run folder: dataset/, checkpoint.pt, eval_test.json/png")
    t.add_argument("--size", type=int, default=128, help="square training resolution in pixels")
    t.add_argument("--model", default=None, help="body model (default: the motion's)")
    t.add_argument("--model-dir", default=None, help="folder with SMPL-family model files")
    t.add_argument("--mask-source", default="auto", choices=("auto", "keypoints", "mediapipe", "raster"),
                   help="person mask source (auto: the perception cache if --keypoints has one, else MediaPipe)")
    t.add_argument("--keypoints", default=None, help="perception cache with person masks: a keypoints_*.npz or a folder of them "
                   "(default ~/.cache/smplpix-studio/detections, as `estimate` writes; 'none' to skip)")
    t.add_argument("--crop", default="per_frame", choices=("per_frame", "fixed"))
    t.add_argument("--no-normals", action="store_true", help="input: colour code only (no normal channels)")
    t.add_argument("--no-depth", action="store_true", help="input: no relative depth channel")
    t.add_argument("--max-frames", type=int, default=None)
    t.add_argument("--subject", default="auto", choices=("auto", "body", "face"),
                   help="face: an avatar of a face close-up from a face-only estimate (FLAME, or Anny's head with its "
                        "facial actions); auto: face when the motion is a face estimate")
    t.add_argument("--face", dest="subject", action="store_const", const="face", help="same as --subject face")
    t.add_argument("--rebuild", action="store_true", help="rebuild the dataset even if it exists")
    t.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint (default: resume)")
    t.add_argument("--device", default="auto")
    for f in dataclasses.fields(TrainConfig):
        t.add_argument("--" + f.name.replace("_", "-"), type=type(f.default) if f.type != "bool" else _bool,
                       default=f.default, help=f"training: {f.name} (default {f.default})")
    t.set_defaults(handler=_clean_errors(_train))

    e = sub.add_parser("eval", help="PSNR/SSIM on the held-out block + side-by-side PNG")
    e.add_argument("--run", required=True, help="run folder from `avatar train`")
    e.add_argument("--checkpoint", default=None)
    e.add_argument("--dataset", default=None)
    e.add_argument("--split", default="test", choices=("test", "val", "train"))
    e.add_argument("--device", default="auto")
    e.add_argument("--lpips-backbone", default=None, help="local VGG-16 state_dict for LPIPS (never downloaded)")
    e.add_argument("--lpips-linear", default=None, help="local LPIPS linear layers (the reference vgg.pth)")
    e.set_defaults(handler=_clean_errors(_eval))

    r = sub.add_parser("render", help="render the avatar for any motion to an RGBA PNG sequence")
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--motion", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--onnx", default=None, help="run this exported network with onnxruntime")
    r.add_argument("--betas", type=_floats, default=None, help="shape override, comma-separated")
    r.add_argument("--camera", default="auto", choices=("auto", "track", "motion"),
                   help="motion: the motion's own camera; track: the training camera following the body; auto: "
                        "motion when the motion has a camera")
    r.add_argument("--frame", default="full", choices=("full", "crop"),
                   help="full: RGBA frames at the source video's size, the person where the person was (an "
                        "overlay for the video); crop: the network's square crops")
    r.add_argument("--frame-scale", type=float, default=1.0,
                   help="full frames at this times the source size (the network always runs at its training size)")
    r.add_argument("--background", type=_floats, default=[0.0, 0.0, 0.0], help="r,g,b in [0, 1]")
    r.add_argument("--alpha", default="predicted", choices=("predicted", "raster"))
    r.add_argument("--model-dir", default=None)
    r.add_argument("--device", default="auto")
    r.add_argument("--subject", default="auto", choices=("auto", "body", "face"),
                   help="face: render a face avatar on a face motion (its camera and expression); auto: the "
                        "checkpoint's subject")
    r.add_argument("--face", dest="subject", action="store_const", const="face", help="same as --subject face")
    r.set_defaults(handler=_clean_errors(_render))

    c = sub.add_parser("face-clip", help="write the synthetic face close-up (Anny's head, changing expressions) "
                                         "used by the tests: OUT/frames/*.png + OUT/motion.npz")
    c.add_argument("--out", required=True)
    c.add_argument("--frames", type=int, default=48)
    c.add_argument("--size", type=int, default=160, help="frame side in pixels")
    c.set_defaults(handler=_clean_errors(_face_clip))

    x = sub.add_parser("export-onnx", help="export the network to ONNX (dynamic batch)")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--size", type=int, default=None)
    x.add_argument("--opset", type=int, default=17)
    x.add_argument("--fp16", action="store_true", help="half precision (export on CUDA)")
    x.add_argument("--device", default="cpu")
    x.set_defaults(handler=_clean_errors(_export))


def _clean_errors(handler):
    """Bad input (a missing or wrong file, a too-short clip, an incompatible checkpoint) -> one error line naming the
    file and the fix, exit code 2; anything else is a bug and keeps its traceback."""
    import functools

    @functools.wraps(handler)
    def run(args) -> int:
        try:
            return handler(args)
        except (ValueError, FileNotFoundError) as exc:
            log.error("%s", exc)
            return 2

    return run


def _bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def _train(args) -> int:
    from backend.avatar.dataset import build_dataset
    from backend.avatar.evaluate import evaluate
    from backend.avatar.render import RasterSpec
    from backend.avatar.config import TrainConfig
    from backend.avatar.train import train

    out = Path(args.out)
    ds = Path(args.dataset) if args.dataset else out / "dataset"
    if args.rebuild or not (ds / "data.npz").is_file():
        if not (args.video and args.motion):
            log.error("no dataset at %s: pass --video and --motion to build one", ds)
            return 2
        spec = RasterSpec(normals=not args.no_normals, depth=not args.no_depth)
        if _face_subject(args.subject, args.motion):
            from backend.avatar.face_dataset import build_face_dataset

            build_face_dataset(args.video, args.motion, ds, size=args.size, model_dir=args.model_dir, spec=spec,
                               mask_source=args.mask_source, max_frames=args.max_frames)
        else:
            from backend.runtime import detections_cache

            keypoints = args.keypoints or detections_cache()
            keypoints = None if str(keypoints).lower() == "none" else keypoints
            build_dataset(args.video, args.motion, ds, size=args.size, model_name=args.model,
                          model_dir=args.model_dir, spec=spec, crop_mode=args.crop, mask_source=args.mask_source,
                          max_frames=args.max_frames, keypoints=keypoints)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    ckpt = train(ds, out, cfg, device=args.device, resume=not args.fresh)
    report = evaluate(ckpt, ds, out, "test", device=args.device)
    print(json.dumps(report["metrics"]))
    return 0


def _face_subject(subject: str, motion_path: str) -> bool:
    """Whether ``avatar train`` builds a face dataset: --subject face, or auto and the motion is a face estimate."""
    if subject != "auto":
        return subject == "face"
    from backend.avatar.face_dataset import is_face_motion
    from blender_addon.core.motion import Motion

    return is_face_motion(Motion.load(motion_path))


def _eval(args) -> int:
    from backend.avatar.evaluate import evaluate

    run = Path(args.run)
    lpips = (args.lpips_backbone, args.lpips_linear) if args.lpips_backbone or args.lpips_linear else None
    report = evaluate(args.checkpoint or run / "checkpoint.pt", args.dataset or run / "dataset", run, args.split,
                      device=args.device, lpips_files=lpips)
    print(json.dumps(report["metrics"]))
    return 0


def _render(args) -> int:
    import numpy as np

    from backend.avatar.infer import render_motion

    subject = args.subject
    if subject == "auto":
        from backend.avatar.face_render import subject_of
        from backend.avatar.train import read_checkpoint

        subject = subject_of(read_checkpoint(args.checkpoint)) if Path(args.checkpoint).is_file() else "body"
    if subject == "face":
        from backend.avatar.face_render import render_face_motion

        if args.onnx or args.betas is not None or args.camera == "track" or args.alpha == "raster":
            log.warning("a face avatar renders with torch through the motion's camera and the predicted matte; "
                        "--onnx, --betas, --camera track and --alpha raster are ignored")

        render_face_motion(args.checkpoint, args.motion, args.out, background=tuple(args.background),
                           device=args.device, model_dir=args.model_dir, frame=args.frame,
                           frame_scale=args.frame_scale)
        return 0
    betas = None if args.betas is None else np.asarray(args.betas, np.float32)
    render_motion(args.checkpoint, args.motion, args.out, onnx=args.onnx, betas=betas, camera=args.camera,
                  background=tuple(args.background), alpha=args.alpha, device=args.device, model_dir=args.model_dir,
                  frame=args.frame, frame_scale=args.frame_scale)
    return 0


def _export(args) -> int:
    from backend.avatar.infer import export_onnx

    export_onnx(args.checkpoint, args.out, size=args.size, opset=args.opset, fp16=args.fp16, device=args.device)
    return 0


def _face_clip(args) -> int:
    from backend.avatar.face_synthetic import write_face_clip

    folder, motion = write_face_clip(args.out, frames=args.frames, size=args.size)
    print(json.dumps({"frames": str(folder), "motion": str(motion)}))
    return 0
