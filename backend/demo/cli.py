"""``python -m backend demo clip|novel-motion|score``: the pieces of the embedded demo (see scripts/demo.py)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger(__name__)


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("demo", help="embedded demo helpers: sample clip, novel motion, accuracy score")
    sub = p.add_subparsers(dest="demo_command", required=True)
    c = sub.add_parser("clip", help="render the sample clip (Anny, built-in motion) and its ground-truth motion")
    c.add_argument("-o", "--out", required=True, help="output .mp4 (the truth goes to <name>_truth.npz)")
    c.add_argument("--frames", type=int, default=90)
    c.add_argument("--size", type=int, default=512)
    c.add_argument("--fps", type=float, default=30.0)
    c.set_defaults(handler=_clip)
    n = sub.add_parser("novel-motion", help="a new motion from an estimate: reversed in time, turning")
    n.add_argument("--motion", required=True)
    n.add_argument("-o", "--out", required=True)
    n.add_argument("--turn", type=float, default=0.8, help="total turn about the up axis, radians")
    n.set_defaults(handler=_novel)
    s = sub.add_parser("score", help="MPJPE / PA-MPJPE of an estimate against a ground-truth motion (JSON)")
    s.add_argument("--truth", required=True)
    s.add_argument("--estimate", required=True)
    s.add_argument("--model-dir", default=None)
    s.set_defaults(handler=_score)


def _clip(args: argparse.Namespace) -> int:
    from backend.demo.sample_clip import render_clip

    video, truth = render_clip(args.out, frames=args.frames, fps=args.fps, size=args.size)
    print(json.dumps({"video": str(video), "truth": str(truth)}))
    return 0


def _novel(args: argparse.Namespace) -> int:
    from backend.demo.novel import turning_reversed
    from blender_addon.core.motion import Motion, MotionError

    try:
        motion = Motion.load(args.motion)
    except MotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"motion": str(turning_reversed(motion, args.turn).save(args.out))}))
    return 0


def _score(args: argparse.Namespace) -> int:
    from backend.bodymodels import load_body_model
    from backend.demo.score import joint_errors
    from blender_addon.core.motion import Motion

    truth, est = Motion.load(args.truth), Motion.load(args.estimate)
    if truth.model != est.model:
        print(f"error: {args.estimate} uses {est.model!r}, the truth {truth.model!r}", file=sys.stderr)
        return 2
    model = load_body_model(truth.model, model_dir=args.model_dir)
    print(json.dumps(joint_errors(model, truth, est)))
    return 0
