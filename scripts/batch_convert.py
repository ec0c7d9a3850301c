"""Headless batch conversion: videos and motion files -> .blend / FBX / GLB, one set per input.

Run either way (same arguments):
    blender -b -P scripts/batch_convert.py -- INPUT... --out DIR [options]
    python scripts/batch_convert.py INPUT... --out DIR [options]        (with the PyPI ``bpy`` module)

INPUT is a video (.mp4 .mov .avi .mkv .webm: estimated by the backend's ``estimate`` job), a motion file (.npz project
motion or AMASS, .smpl, SMPLify-X .pkl), a 3D scan (.ply .obj .stl .glb .gltf .off .xyz, or an .npz of ``points``:
fitted, then rigged, by the Scan panel's operators; the exports hold the fitted body and the rigged scan), or a
folder of them. With ``--calibration CALIB`` the inputs are instead the videos of ONE calibrated multi-camera take
(in the calibration's camera order, optional ``--offsets``): they become one output set named after the calibration,
holding the body (or every person, ``--people all``) in the calibration's world frame and one camera per view with
its video plate. For each input the add-on's own operators run blocking
(``smplpix.import_motion`` / ``smplpix.estimate_video``, then ``smplpix.export_body``), printing
``SMPLPIX_PROGRESS {json}`` lines for every job message and one ``SMPLPIX_BATCH {json}`` line per input state.
A JSON summary (default ``DIR/summary.json``) lists every input with its outputs or its error. Exit code 0 only if
every input converted; 1 if any failed; 2 for a usage error or a backend that would not start.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "scripts"))  # farm/ (per-input jobs, engines, the retarget step)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
MOTION_SUFFIXES = (".npz", ".smpl", ".pkl")
SCAN_SUFFIXES = (".ply", ".obj", ".stl", ".glb", ".gltf", ".off", ".xyz")  # and .npz holding `points`
SCAN_MODELS = ("anny", "smplx", "smplh", "smpl", "mano")
FORMATS = ("blend", "fbx", "glb")


def script_argv(argv: list[str]) -> list[str]:
    """Our arguments: after ``--`` under Blender, else everything after the script name."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="batch_convert.py", description="Convert videos and motion files to "
                                ".blend / FBX / GLB with SMPLpix Studio.")
    p.add_argument("inputs", nargs="+", type=Path, help="videos, motion files, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--formats", default="blend,fbx,glb", help="comma-separated subset of blend,fbx,glb")
    p.add_argument("--fbx-preset", default="fbx_generic", help="export preset for FBX (fbx_generic/unity/unreal)")
    p.add_argument("--glb-preset", default="glb_generic", help="export preset for GLB")
    p.add_argument("--summary", type=Path, help="summary JSON path (default OUT/summary.json)")
    p.add_argument("--backend-python", type=Path, help="backend interpreter (default: the project's .venv)")
    p.add_argument("--model-dir", type=Path, help="folder with SMPL-family model files")
    p.add_argument("--model", default="anny", help="body model for videos (anny, smplx, ...)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--frames", default="", metavar="START:END[:STRIDE]",
                   help="video frames to estimate (0-based, END exclusive; default all)")
    p.add_argument("--people", choices=("main", "all"), default="main",
                   help="videos: the main person (default) or every person, all in the same .blend/.fbx/.glb")
    p.add_argument("--calibration", type=Path, metavar="CALIB.qca.txt|.toml",
                   help="the inputs are the videos of one calibrated take, in the calibration's camera order: one "
                   "output set with the body (or every person) in world coordinates and one camera per view")
    p.add_argument("--offsets", default="", metavar="0,0,2,0",
                   help="with --calibration: per video, the frame that is the take's frame 0 (default all 0)")
    p.add_argument("--avatar", action="store_true",
                   help="videos: also train the SMPLpix avatar and render its preview (the whole Video to Avatar job)")
    p.add_argument("--avatar-steps", type=int, default=2000, help="avatar training steps (with --avatar)")
    p.add_argument("--avatar-size", type=int, default=128, help="avatar resolution, multiple of 16 (with --avatar)")
    p.add_argument("--retarget", type=Path, metavar="TARGET.fbx|.blend",
                   help="also bake the motion onto this character (Rigify, Mixamo, UE5 or any humanoid) and export it")
    p.add_argument("--bone-map", type=Path, metavar="MAP.json", help="bone map for --retarget (default: detect)")
    p.add_argument("--root-motion", choices=("root_bone", "in_place", "object"), default="root_bone",
                   help="where the retargeted travel goes")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (or --workers N processes); ray: Ray tasks (pip install -e '.[farm]')")
    p.add_argument("--workers", type=int, default=0, help="run one job per input on N local processes (or N Ray "
                   "CPUs for a local Ray cluster); each input gets OUT/<name>/ and a done-marker")
    p.add_argument("--address", help="Ray cluster, ray://HOST:PORT (default: a local cluster)")
    args = p.parse_args(argv)
    try:
        parts = [int(v) if v else 0 for v in args.frames.split(":")] if args.frames else [0, 0, 1]
        args.frame_range = (parts + [0, 0, 1][len(parts):])[:3]
        if args.frame_range[2] < 1 or min(args.frame_range) < 0:
            raise ValueError
    except ValueError:
        p.error(f"--frames {args.frames!r}: use START:END or START:END:STRIDE with non-negative integers")
    args.formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = sorted(set(args.formats) - set(FORMATS))
    if bad or not args.formats:
        p.error(f"--formats {bad or 'empty'}: choose from {', '.join(FORMATS)}")
    if args.offsets and not args.calibration:
        p.error("--offsets needs --calibration (the frame offsets of a multi-camera take's videos)")
    if args.calibration and (args.avatar or args.retarget or args.engine == "ray" or args.workers):
        p.error("--calibration makes one take of the inputs: it does not combine with --avatar, --retarget, "
                "--engine ray or --workers")
    from farm.retarget_step import check_retarget_args

    if error := check_retarget_args(args):
        p.error(error)
    return args


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Folders become their video/motion files (sorted, not recursive); files are kept as given."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in
                          VIDEO_SUFFIXES + MOTION_SUFFIXES + SCAN_SUFFIXES)
        else:
            out.append(path)
    return out


def is_point_npz(path: Path) -> bool:
    """An .npz scan (``points`` or ``vertices``, no motion ``header``) rather than a motion file."""
    if path.suffix.lower() != ".npz":
        return False
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as d:
            return bool({"points", "vertices"} & set(d.files)) and "header" not in d.files
    except Exception:
        return False


def emit(record: dict) -> None:
    print("SMPLPIX_BATCH " + json.dumps(record), flush=True)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def setup_blender(args: argparse.Namespace):
    """Import bpy (Blender's or the PyPI module), enable the add-on from this checkout, set its preferences."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import bpy  # first: it puts Blender's script modules (addon_utils) on sys.path
    import addon_utils

    if addon_utils.enable("blender_addon", default_set=True, handle_error=None) is None:
        raise RuntimeError("the SMPLpix Studio add-on (blender_addon) did not enable")
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.device = args.device
    if args.model_dir:
        prefs.model_dir = str(args.model_dir.resolve())
    if args.backend_python:
        prefs.backend_python = str(args.backend_python)
    return bpy


def check_take(args: argparse.Namespace, videos: list[Path], python: str) -> str | None:
    """A calibrated take's inputs against its calibration (camera count, image sizes, frame counts after the
    offsets), checked by the backend's own ``check_inputs`` (in this process, or in the backend interpreter where
    this one lacks OpenCV). Returns one user-facing line, or None when the take is fine."""
    bad = [v for v in videos if v.suffix.lower() not in VIDEO_SUFFIXES or not v.is_file()]
    if not args.calibration.is_file():
        return f"{args.calibration}: no such calibration file; give the take's .qca.txt or .toml"
    if bad:
        return (f"{bad[0]}: not a video file; with --calibration every input is one view's video "
                f"({', '.join(VIDEO_SUFFIXES)})")
    request = json.dumps({"videos": [str(v) for v in videos], "calibration": str(args.calibration),
                          "offsets": args.offsets, "frames": list(args.frame_range)})
    try:
        import cv2  # noqa: F401  (the check reads the videos with OpenCV)
    except ImportError:
        import subprocess

        proc = subprocess.run([python, "-c", f"import sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'scripts')!r}]; "
                               "from batch_convert import take_error; print(take_error(sys.argv[1]) or '')", request],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"{args.calibration}: the take could not be checked ({python}: {last})"
        return proc.stdout.strip() or None
    return take_error(request)


def take_error(request: str) -> str | None:
    """The check of ``check_take`` on its JSON request; the error line or None."""
    from backend.fitting.estimate import EstimateRequest
    from backend.fitting.multiview_estimate import MultiViewRequest, check_inputs, parse_offsets
    from backend.perception.frames import FrameRange

    r = json.loads(request)
    videos = tuple(Path(v) for v in r["videos"])
    start, end, stride = r["frames"]
    try:
        base = EstimateRequest(input=videos[0], output=Path("unused.npz"),
                               frames=FrameRange(start, end or None, max(1, stride)))
        check_inputs(MultiViewRequest(base=base, videos=videos, calibration=Path(r["calibration"]),
                                      offsets=parse_offsets(r["offsets"], len(videos))))
    except (ValueError, OSError) as exc:
        return str(exc)
    return None


def take_name(calibration: Path) -> str:
    """Outputs of a calibrated take are named after its calibration file (``Calib.qca.txt`` -> ``Calib``)."""
    return calibration.name.split(".")[0] or "take"


def convert_take(bpy, videos: list[Path], args: argparse.Namespace, kinds: tuple[str, ...]) -> dict:
    """Estimate one calibrated take (every view jointly) and write its outputs; raises with a user-facing reason."""
    if "estimate_multi" not in kinds:
        raise ValueError(f"{args.calibration.name}: this backend has no 'estimate_multi' capability (multi-camera "
                         "estimation is not installed)")
    bpy.ops.wm.read_homefile(use_empty=True)
    s = bpy.context.scene.smplpix
    s.model = args.model
    s.calibration_path = str(args.calibration.resolve())
    s.other_videos = ";".join(str(v.resolve()) for v in videos[1:])
    s.video_offsets = args.offsets
    start, end, stride = args.frame_range
    bpy.ops.smplpix.estimate_people(filepath=str(videos[0].resolve()), start=start, end=end, stride=max(1, stride),
                                    people="ALL" if args.people == "all" else "MAIN")
    return write_outputs(bpy, take_name(args.calibration), args, every_body=True)


def write_outputs(bpy, name: str, args: argparse.Namespace, every_body: bool, export=None) -> dict:
    """The scene's bodies (and cameras) as OUT/<name>.blend/.fbx/.glb, per ``args.formats``."""
    outputs = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for fmt in args.formats:
        target = args.out / f"{name}.{fmt}"
        if fmt == "blend":
            bpy.ops.wm.save_as_mainfile(filepath=str(target), copy=True)
        elif export:
            from blender_addon.export.exporter import export_scene

            export_scene([export], target, args.fbx_preset if fmt == "fbx" else args.glb_preset)
        else:
            preset = args.fbx_preset if fmt == "fbx" else args.glb_preset
            bpy.ops.smplpix.export_body(filepath=str(target), preset=preset, every_body=every_body)
        if not target.is_file():
            raise RuntimeError(f"{name}: {target} was not written")
        outputs[fmt] = str(target)
    scene = bpy.context.scene
    return {"outputs": outputs, "frames": scene.frame_end - scene.frame_start + 1, "fps": scene.render.fps}


def convert_one(bpy, path: Path, args: argparse.Namespace, kinds: tuple[str, ...]) -> dict:
    """Build one input in an empty scene and write its outputs; raises with a user-facing reason."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    bpy.ops.wm.read_homefile(use_empty=True)  # keeps add-ons and preferences
    name = path.stem
    if suffix in VIDEO_SUFFIXES:
        if "estimate" not in kinds:
            raise ValueError(f"{path.name}: this backend has no 'estimate' capability (video estimation is not "
                             "installed); convert a motion file instead or install the estimation module")
        s = bpy.context.scene.smplpix
        s.model = args.model
        start, end, stride = args.frame_range
        if args.avatar:
            s.avatar_steps, s.avatar_size = args.avatar_steps, args.avatar_size
            bpy.ops.smplpix.video_to_avatar(filepath=str(path), start=start, end=end, stride=max(1, stride))
        elif args.people == "all":
            bpy.ops.smplpix.estimate_people(filepath=str(path), start=start, end=end, stride=max(1, stride))
        else:
            bpy.ops.smplpix.estimate_video(filepath=str(path), start=start, end=end, stride=max(1, stride))
    elif suffix in SCAN_SUFFIXES or is_point_npz(path):
        s = bpy.context.scene.smplpix
        s.scan_model = args.model if args.model in SCAN_MODELS else "anny"
        bpy.ops.smplpix.scan_fit(filepath=str(path))
        bpy.ops.smplpix.scan_rig()
    elif suffix in MOTION_SUFFIXES:
        bpy.ops.smplpix.import_motion(filepath=str(path), name=name)
    else:
        raise ValueError(f"{path.name}: unsupported input type {suffix!r}; use a video "
                         f"({', '.join(VIDEO_SUFFIXES)}), a motion file ({', '.join(MOTION_SUFFIXES)}) or a scan "
                         f"({', '.join(SCAN_SUFFIXES)})")
    outputs = {}
    if suffix in VIDEO_SUFFIXES and args.avatar:
        args.out.mkdir(parents=True, exist_ok=True)
        outputs.update(keep_avatar(bpy, name, args.out))
    export = report = None
    if args.retarget:
        from farm.retarget_step import retarget_body

        export, report = retarget_body(bpy, args, path if suffix in MOTION_SUFFIXES else None)
    result = write_outputs(bpy, name, args, every_body=args.people == "all", export=export)
    result["outputs"] = {**outputs, **result["outputs"]}
    return {**result, **({"retarget": report} if export else {})}


def keep_avatar(bpy, name: str, out: Path) -> dict:
    """Copy the trained avatar and its preview frames out of the backend's job folder into ``out`` and point the
    scene at the copies, so the saved .blend does not depend on temporary files."""
    import shutil

    from blender_addon.builders.preview import find_sequence, load_preview

    arm = bpy.context.view_layer.objects.active
    image = bpy.data.images[f"{arm.name}Avatar"]
    frames = find_sequence(Path(bpy.path.abspath(image.filepath)).parent)
    preview = out / f"{name}_preview"
    shutil.rmtree(preview, ignore_errors=True)
    preview.mkdir(parents=True)
    for f in frames:
        shutil.copy2(f, preview / f.name)
    checkpoint = out / f"{name}_avatar.pt"
    shutil.copy2(bpy.path.abspath(arm.smplpix.avatar_path), checkpoint)
    arm.smplpix.avatar_path = str(checkpoint)
    camera = bpy.context.scene.camera
    load_preview(preview, frame_start=int(image["smplpix_frame_start"]), name=image.name,
                 camera=camera.name if camera else None)
    return {"avatar": str(checkpoint), "preview": str(preview)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(script_argv(sys.argv if argv is None else argv))
    args.out = args.out.resolve()
    inputs = expand_inputs(args.inputs)
    summary_path = args.summary or args.out / "summary.json"
    if not inputs:
        print(f"batch_convert: no inputs found in {', '.join(map(str, args.inputs))}", file=sys.stderr)
        return 2
    if args.engine == "ray" or args.workers:
        from farm.cli import run_farm

        return run_farm(args, inputs, summary_path, script_argv(sys.argv if argv is None else argv))
    bpy = setup_blender(args)
    from blender_addon.ipc.client import BackendError
    from blender_addon.ipc.session import SESSION
    from blender_addon.preferences import backend_python, get_prefs

    prefs = get_prefs()
    if args.calibration and (error := check_take(args, inputs, backend_python(prefs))):
        print(f"batch_convert: {error}", file=sys.stderr)  # before the backend starts; nothing written
        return 2
    try:
        SESSION.start(python=backend_python(prefs), job_root=tempfile.mkdtemp(prefix="smplpix-batch-"),
                      device=args.device)
    except BackendError as exc:
        print(f"batch_convert: {exc}", file=sys.stderr)
        write_json(summary_path, {"ok": False, "error": str(exc), "inputs": []})
        return 2
    results = []
    started = time.time()
    jobs = [args.calibration] if args.calibration else inputs  # a calibrated take is one job of all its videos
    try:
        for i, path in enumerate(jobs):
            emit({"index": i, "total": len(jobs), "input": str(path), "state": "start"})
            t0 = time.monotonic()
            entry = {"input": str(path), "ok": False}
            try:
                if not SESSION.running:  # a previous input crashed the backend: start a fresh one
                    SESSION.start(python=backend_python(prefs), device=args.device)
                if args.calibration:
                    entry["videos"] = [str(v) for v in inputs]
                    entry.update(convert_take(bpy, inputs, args, SESSION.kinds))
                else:
                    entry.update(convert_one(bpy, path, args, SESSION.kinds))
                entry["ok"] = True
            except (RuntimeError, ValueError, OSError, BackendError) as exc:
                entry["error"] = str(exc).removeprefix("Error: ").strip()
            except Exception as exc:  # a bug: report it for this input and go on with the others
                entry["error"] = f"{path.name}: unexpected {type(exc).__name__}: {exc}"
                entry["traceback"] = traceback.format_exc()
            entry["seconds"] = round(time.monotonic() - t0, 3)
            results.append(entry)
            emit({"index": i, "total": len(jobs), "input": str(path), "state": "done" if entry["ok"] else "failed",
                  **({"error": entry["error"]} if not entry["ok"] else {"outputs": entry["outputs"]})})
    finally:
        SESSION.stop()
    ok = all(r["ok"] for r in results)
    write_json(summary_path, {"ok": ok, "converted": sum(r["ok"] for r in results), "failed":
                              sum(not r["ok"] for r in results), "started": started, "seconds":
                              round(time.time() - started, 3), "inputs": results})
    print(f"batch_convert: {sum(r['ok'] for r in results)}/{len(results)} converted; summary: {summary_path}",
          flush=True)
    return 0 if ok else 1


if __name__ == "__main__":  # also under `blender -b -P`, where SystemExit sets Blender's exit code
    sys.exit(main())
