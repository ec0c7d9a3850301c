"""``python -m backend scan fit | rig``.

    python -m backend scan fit SCAN -o OUT.npz [--mesh OUT.ply] [--detail OUT_detail.npz]
                               [--model anny|smplx|smplh|smpl|mano] [--model-dir DIR] [--gender G]
    python -m backend scan rig SCAN --fit OUT.npz -o RIGGED.glb

Bad input (a missing, empty, unreadable or non-human scan, a missing model file) prints one line naming the file
and exits with code 2; nothing is written then.
"""

from __future__ import annotations

import logging
import sys
import tempfile

log = logging.getLogger(__name__)


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("scan", help="fit a body to a 3D scan / point cloud; rig the scan")
    sub = parser.add_subparsers(dest="scan_command", required=True)
    p = sub.add_parser("fit", help="fit pose and shape to a scan: a one-frame motion file (+ mesh, detail)")
    p.add_argument("scan", help="scan: .ply .obj .stl .glb .gltf .off mesh, or .npz / .xyz points")
    p.add_argument("-o", "--output", required=True, help="output motion .npz")
    p.add_argument("--mesh", help="also write the fitted body (.ply/.obj) in the scan's coordinates and units")
    p.add_argument("--detail", help="also write the detail layer .npz (scan minus body, per model vertex)")
    p.add_argument("--model", default="anny", choices=("anny", "smplx", "smplh", "smpl", "mano"))
    p.add_argument("--model-dir", help="folder with SMPL-family / MANO files; else $SMPLPIX_MODEL_DIR")
    p.add_argument("--gender", default="neutral", help="neutral | male | female (MANO: right | left)")
    p.add_argument("--up-axis", default="auto", choices=("auto", "Y", "Z"), help="the motion's world axes")
    p.add_argument("--no-pose", action="store_true", help="rigid alignment + shape only (the baseline)")
    p.add_argument("--fast", action="store_true", help="a quick preview fit (one start, a third of the steps)")
    p.set_defaults(handler=_guarded(_fit))
    p = sub.add_parser("rig", help="skin a scan to its fitted body: armature + scan mesh with weights (.glb)")
    p.add_argument("scan")
    p.add_argument("--fit", required=True, help="the motion .npz written by `scan fit`")
    p.add_argument("-o", "--output", required=True, help="output .glb")
    p.add_argument("--model-dir")
    p.add_argument("--smooth", type=int, default=3, help="weight smoothing passes over the scan's edges")
    p.set_defaults(handler=_guarded(_rig))


def _fit(args) -> int:
    from backend.scan.pipeline import run_fit
    from blender_addon.core.jobs.scan import ScanFitParams

    P = ScanFitParams(scan=args.scan, model=args.model, model_dir=args.model_dir, gender=args.gender,
                      output=args.output, mesh=args.mesh, detail=args.detail, up_axis=args.up_axis,
                      fit_pose=not args.no_pose, fast=args.fast)
    P.check()
    with tempfile.TemporaryDirectory(prefix="smplpix-scan-") as tmp:
        out = run_fit(P, tmp, _progress)
        for role in ("motion", "mesh", "detail"):
            if role in out:
                print(f"{role}: {out[role]}")
    return 0


def _rig(args) -> int:
    from backend.scan.pipeline import run_rig
    from blender_addon.core.jobs.scan import ScanRigParams

    P = ScanRigParams(scan=args.scan, fit=args.fit, model_dir=args.model_dir, output=args.output,
                      smooth=args.smooth)
    P.check()
    with tempfile.TemporaryDirectory(prefix="smplpix-scan-") as tmp:
        out = run_rig(P, tmp, None)
        print(f"glb: {out['glb']}")
    return 0


def _progress(stage: str, done: int, total: int) -> None:
    if total and (done == total or done % 20 == 0):
        log.info("%s %d/%d", stage, done, total)


def _guarded(fn):
    """Expected errors -> one line on stderr and exit code 2."""

    def run(args) -> int:
        from backend.bodymodels.detail import DetailError
        from backend.scan.reader import ScanError
        from blender_addon.core.jobs import ParamError
        from blender_addon.core.model_registry import ModelFileError
        from blender_addon.core.motion import MotionError

        try:
            return fn(args)
        except (ScanError, ModelFileError, MotionError, DetailError, ParamError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


__all__ = ["add_commands"]
