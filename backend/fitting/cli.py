"""``python -m backend estimate INPUT -o motion.npz [--model anny|smplx|flame|mano] ...``.

Detects the main person in a video or image folder (MediaPipe, cached), fits the body model to the whole sequence
and writes a motion file (blender_addon.core.motion). Progress is drawn on stderr; bad input exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


class ProgressBar:
    """One updating stderr line per stage: ``detect [#####.....] 115/230 frame 115 of 230 (24.1/s)``."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.stage, self.start, self.last = None, 0.0, 0.0

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        if stage != self.stage:
            if self.stage is not None:
                self.stream.write("\n")
            self.stage, self.start = stage, now
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        frac = done / total if total else 0.0
        fill = int(round(frac * self.width))
        rate = done / max(now - self.start, 1e-6)
        self.stream.write(f"\r{stage:<12} [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} {message} "
                          f"({rate:.1f}/s)   ")
        self.stream.flush()

    def close(self) -> None:
        if self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()


def add_commands(subparsers) -> None:
    from blender_addon.core.names import MODEL_NAMES  # torch-free: the CLI starts fast

    p = subparsers.add_parser("estimate", help="video/images -> body-model motion (.npz)",
                              description="Estimate body-model motion from a monocular video or image folder.")
    p.add_argument("input", nargs="+", help="video file (mp4, mov, mkv, avi, ...) or folder of images; several "
                   "synchronized videos with --calibration")
    p.add_argument("-o", "--output", required=True,
                   help="motion .npz to write (a folder with --people all / N: person_00.npz, ... + people.json)")
    p.add_argument("--people", default="main", help="main (default: one person) | all | N (the N most visible)")
    p.add_argument("--min-height", type=float, default=None,
                   help="with --people: ignore people smaller than this, pixels (default 160)")
    p.add_argument("--calibration", default=None,
                   help="multi-camera: calibration of the videos (Qualisys .qca.txt or Pose2Sim/Anipose .toml)")
    p.add_argument("--offsets", default=None,
                   help="multi-camera: per-video frame offsets, comma-separated (frame 0 of the take = frame "
                        "offset of each video; default: all 0, videos synchronized frame by frame)")
    p.add_argument("--model", default="anny", choices=MODEL_NAMES, help="body model (default: anny)")
    p.add_argument("--model-dir", default=None, help="folder with SMPL-family model files")
    p.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    p.add_argument("--end", type=int, default=None, help="frame after the last (default: all)")
    p.add_argument("--stride", type=int, default=1, help="use every n-th frame (default 1)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--focal", type=float, default=None, help="focal length in pixels (default: from image size)")
    p.add_argument("--camera", default="auto", choices=("auto", "static"),
                   help="auto: track a panning/zooming camera from the background (static footage stays static); "
                        "static: assume a fixed camera")
    p.add_argument("--subject", default="body", choices=("body", "face"),
                   help="body (default) | face: a face close-up (head pose + facial actions; for face avatars)")
    p.add_argument("--iterations", type=int, default=None, help="main fitting iterations (default 160)")
    p.add_argument("--no-hands", action="store_true", help="do not fit fingers")
    p.add_argument("--follow-fast-motion", action="store_true",
                   help="relax smoothing where the fit misses confident detections (flips, landings)")
    p.add_argument("--cache-dir", default=None,
                   help="detections cache (default $SMPLPIX_CACHE_DIR/detections, else "
                   "~/.cache/smplpix-studio/detections, shared with the server; 'none' to disable)")
    p.add_argument("--keypoints", default=None, help="also write the detections (.npz) here")
    p.add_argument("--metrics", default=None, help="write fit metrics and timings (.json) here")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from backend.runtime import check_writable
    from blender_addon.core.jobs import ParamError
    from blender_addon.core.jobs.estimate import EstimateParams

    try:  # the same contract the server's estimate job validates
        params = EstimateParams(input=args.input[0], model=args.model, model_dir=args.model_dir, start=args.start,
                                end=args.end, stride=args.stride, focal=args.focal, iterations=args.iterations,
                                hands=not args.no_hands, follow_fast_motion=args.follow_fast_motion,
                                cache_dir=args.cache_dir, camera=args.camera, subject=args.subject)
        params = EstimateParams.from_params(params.to_params())
        for out in {Path(p).expanduser().parent for p in (args.output, args.keypoints, args.metrics) if p}:
            check_writable(out, "output folder")  # before any detection: a read-only folder fails at once
    except (ParamError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from backend.fitting.estimate import estimate, estimate_request
    from backend.perception.frames import FrameSourceError

    req = estimate_request(params, Path(args.output), args.device,
                           keypoints_out=Path(args.keypoints) if args.keypoints else None)
    if req.cache_dir is not None:
        try:
            check_writable(req.cache_dir, "detections cache")
        except OSError as exc:
            print(f"error: {exc} (or pass --cache-dir / set $SMPLPIX_CACHE_DIR)", file=sys.stderr)
            return 2
    bar = ProgressBar()
    try:
        if len(args.input) > 1 or args.calibration or args.people != "main":
            return _run_extended(args, req, bar)
        result = estimate(req, progress=bar)
    except (FrameSourceError, ValueError, FileNotFoundError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a model-file problem names the file and the fix
        if type(exc).__name__ == "ModelFileError":
            bar.close()
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    bar.close()
    summary = {"motion": str(result.motion_path), **result.metrics, **{f"{k}_s": v for k, v in result.timings.items()}}
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def _run_extended(args: argparse.Namespace, req, bar: ProgressBar) -> int:
    """Several people (``--people``) and / or several calibrated views (``--calibration``)."""
    import dataclasses

    from backend.fitting.people_estimate import estimate_people, parse_people
    from backend.perception.people import PeopleSettings

    count = parse_people(args.people)
    people = PeopleSettings() if args.min_height is None else PeopleSettings(min_height_px=args.min_height)
    if len(args.input) > 1 or args.calibration:
        from backend.fitting.multiview_estimate import MultiViewRequest, estimate_multiview, parse_offsets

        if not args.calibration:
            raise ValueError("several videos need --calibration CALIB (.qca.txt or .toml) to be fitted jointly.")
        mreq = MultiViewRequest(base=req, videos=tuple(Path(v) for v in args.input),
                                calibration=Path(args.calibration),
                                offsets=parse_offsets(args.offsets, len(args.input)), people=count,
                                people_settings=people)
        result = estimate_multiview(mreq, progress=bar)
    else:
        result = estimate_people(dataclasses.replace(req), count, Path(args.output), people, progress=bar)
    bar.close()
    summary = {"outputs": [str(p) for p in result.motions], **result.summary,
               **{f"{k}_s": v for k, v in result.timings.items()}}
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0
