"""Moving camera on real footage with a known camera: the shared tripod jump video re-imaged by a virtual
pan/tilt/zoom; prints the recovered-camera error and the world-trajectory agreement with the static estimate.

Usage: ``python scripts/eval/eval_moving_camera.py [--video V] [--frames 0:90] [--pan 8] [--zoom 1.25]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from backend.fitting.moving_camera_eval import evaluate_moving_camera  # noqa: E402
from backend.perception.frames import FrameRange  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=REPO.parent / "shared" / "data" / "jump_outdoor_1768x994_30fps.mp4")
    ap.add_argument("--frames", default="0:90", help="START:END of the source video")
    ap.add_argument("--pan", type=float, default=8.0, help="virtual pan in degrees")
    ap.add_argument("--zoom", type=float, default=1.25, help="virtual zoom at the end")
    args = ap.parse_args(argv)
    if not args.video.is_file():
        print(f"error: {args.video} not found; pass --video", file=sys.stderr)
        return 2
    start, end = (int(v) for v in args.frames.split(":"))
    with tempfile.TemporaryDirectory(prefix="smplpix-movcam-") as work:
        report = evaluate_moving_camera(args.video, Path(work), FrameRange(start, end), args.pan, args.zoom)
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
