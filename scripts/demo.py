"""The product's main job in one command: video -> motion -> animated Blender scene -> SMPLpix avatar preview.

Run with the project's environment (``bash scripts/demo.sh`` sets it up first):

    .venv/bin/python scripts/demo.py                      # the embedded sample clip (rendered from Anny)
    .venv/bin/python scripts/demo.py --video clip.mp4     # your own video
    .venv/bin/python scripts/demo.py --video clip.mp4 --model smplx --model-dir ~/body_models

Outputs in ``--out`` (default ``out/demo``): ``motion.npz``, ``scene.blend`` (camera, video background, rigged
animated body, the avatar preview layered over the video plate in the viewport and the compositor), ``body.fbx``, ``body.glb``, ``avatar/`` (checkpoint, held-out PSNR/SSIM,
side-by-side PNG), ``preview/`` (full-frame RGBA PNG sequence of a new motion), ``contact_sheet.png`` and ``summary.json``
(timings and quality figures). The backend runs as separate processes (``python -m backend ...``), as it does
under the add-on; this process builds the Blender scene with the ``bpy`` module.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class StageFailed(RuntimeError):
    pass


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.summary: dict = {"inputs": {}, "stages": {}, "quality": {}, "outputs": {}}

    # -- helpers ------------------------------------------------------------------------------------------------
    def backend(self, *argv: str, stage: str) -> str:
        """Run ``python -m backend ARGV``; its stderr streams to ours, stdout is returned."""
        cmd = [sys.executable, "-m", "backend", *argv]
        print(f"SMPLPIX_DEMO {json.dumps({'stage': stage, 'cmd': ' '.join(cmd[1:])})}", flush=True)
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise StageFailed(f"{stage}: `{' '.join(cmd[1:])}` exited with {proc.returncode}")
        return proc.stdout

    def stage(self, name: str, fn, required: bool = True):
        t0 = time.perf_counter()
        try:
            result = fn()
            self.summary["stages"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
            return result
        except Exception as exc:  # recorded in the summary; required stages stop the run
            self.summary["stages"][name] = {"ok": False, "seconds": round(time.perf_counter() - t0, 2),
                                            "error": str(exc)}
            print(f"SMPLPIX_DEMO {json.dumps({'stage': name, 'error': str(exc)})}", flush=True)
            if required:
                raise
            return None

    def model_args(self) -> list[str]:
        a = ["--model", self.args.model]
        if self.args.model_dir:
            a += ["--model-dir", self.args.model_dir]
        return a

    # -- stages -------------------------------------------------------------------------------------------------
    def make_clip(self) -> tuple[Path, Path | None]:
        if self.args.video:
            video = Path(self.args.video).resolve()
            if not video.exists():
                raise StageFailed(f"{video}: no such video or image folder")
            return video, None
        out = json.loads(self.backend("demo", "clip", "-o", str(self.out / "sample.mp4"), "--frames",
                                      str(self.args.frames), "--size", str(self.args.size), stage="clip")
                         .strip().splitlines()[-1])
        return Path(out["video"]), Path(out["truth"])

    def estimate(self, video: Path) -> Path:
        motion = self.out / "motion.npz"
        argv = ["estimate", str(video), "-o", str(motion), "--metrics", str(self.out / "estimate_metrics.json"),
                *self.model_args()]
        if self.args.max_frames:
            argv += ["--end", str(self.args.max_frames)]
        self.backend(*argv, stage="estimate")
        return motion

    def export_rig(self) -> Path:
        rig = self.out / f"rig_{self.args.model}.npz"
        self.backend("bodymodel", "export-rig", "-o", str(rig), *self.model_args(), stage="rig")
        return rig

    def build_scene(self, rig: Path, motion: Path, video: Path) -> dict:
        import bpy

        from blender_addon.builders.scene import build_motion
        from blender_addon.export.exporter import export_scene

        bpy.ops.wm.read_factory_settings(use_empty=True)
        # the builder records rig, motion and video on the body, so the saved scene works in the add-on's UI
        res = build_motion(rig, motion, name="Performer", video=video if video.is_file() else None)
        blend = self.out / "scene.blend"
        objects = [bpy.data.objects[res.armature]]
        fbx = export_scene(objects, self.out / "body.fbx", "fbx_generic")
        glb = export_scene(objects, self.out / "body.glb", "glb_generic")
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        return {"blend": str(blend), "fbx": str(fbx), "glb": str(glb), "armature": res.armature,
                "camera": res.camera, "frames": res.frame_end - res.frame_start + 1}

    def train_avatar(self, video: Path, motion: Path) -> dict:
        run = self.out / "avatar"
        self.backend("avatar", "train", "--video", str(video), "--motion", str(motion), "--out", str(run),
                     "--size", str(self.args.avatar_size), "--steps", str(self.args.avatar_steps),
                     "--batch", str(self.args.avatar_batch), "--base", str(self.args.avatar_base),
                     "--texture", str(self.args.avatar_texture), "--texture-lr", str(self.args.avatar_texture_lr),
                     *(["--model-dir", self.args.model_dir] if self.args.model_dir else []), stage="avatar")
        report = run / "eval_test.json"
        return json.loads(report.read_text()) if report.is_file() else {}

    def preview(self, motion: Path, scene: dict) -> Path:
        novel = self.out / "novel_motion.npz"
        self.backend("demo", "novel-motion", "--motion", str(motion), "-o", str(novel), stage="novel-motion")
        frames = self.out / "preview"
        self.backend("avatar", "render", "--checkpoint", str(self.out / "avatar" / "checkpoint.pt"), "--motion",
                     str(novel), "--out", str(frames), *(["--model-dir", self.args.model_dir]
                                                         if self.args.model_dir else []), stage="preview")
        self.attach_avatar(scene, self.out / "avatar" / "checkpoint.pt", frames)
        return frames

    def attach_avatar(self, scene: dict, checkpoint: Path, frames: Path) -> None:
        """Reopen the saved scene, record the avatar checkpoint on the body (so Render Avatar works there) and
        load the rendered preview as a frame-synced plate; save."""
        import bpy

        from blender_addon.body_record import set_avatar
        from blender_addon.builders.preview import load_preview

        bpy.ops.wm.open_mainfile(filepath=scene["blend"])
        set_avatar(bpy.data.objects[scene["armature"]], str(checkpoint))
        camera = bpy.context.scene.camera
        load_preview(frames, frame_start=bpy.context.scene.frame_start, camera=camera.name if camera else None)
        bpy.ops.wm.save_mainfile()

    def contact_sheet(self, video: Path, motion: Path) -> Path:
        sheet = self.out / "contact_sheet.png"
        cmd = [sys.executable, str(REPO / "scripts" / "contact_sheet.py"), str(video), str(motion), "-o", str(sheet),
               *(["--model-dir", self.args.model_dir] if self.args.model_dir else [])]
        if subprocess.run(cmd, cwd=REPO).returncode != 0 or not sheet.is_file():
            raise StageFailed("contact sheet: scripts/contact_sheet.py failed")
        return sheet

    def run(self) -> int:
        a = self.args
        self.summary["inputs"] = {"video": a.video or "embedded sample clip", "model": a.model}
        ok = True
        try:
            video, truth = self.stage("clip", self.make_clip)
            motion = self.stage("estimate", lambda: self.estimate(video))
            metrics = self.out / "estimate_metrics.json"
            if metrics.is_file():
                self.summary["quality"]["estimate"] = json.loads(metrics.read_text())
            if truth is not None:
                score = self.stage("score", lambda: json.loads(self.backend(
                    "demo", "score", "--truth", str(truth), "--estimate", str(motion), stage="score")
                    .strip().splitlines()[-1]), required=False)
                if score:
                    self.summary["quality"]["estimate_vs_truth"] = score
            rig = self.stage("rig", self.export_rig)
            scene = self.stage("scene", lambda: self.build_scene(rig, motion, video))
            self.summary["outputs"].update(scene)
            sheet = self.stage("contact_sheet", lambda: self.contact_sheet(video, motion), required=False)
            if sheet:
                self.summary["outputs"]["contact_sheet"] = str(sheet)
            if not a.skip_avatar:
                report = self.stage("avatar", lambda: self.train_avatar(video, motion))
                self.summary["quality"]["avatar"] = avatar_headline(report or {})
                self.summary["quality"]["avatar_test"] = report
                frames = self.stage("preview", lambda: self.preview(motion, scene))
                self.summary["outputs"]["preview"] = str(frames)
        except Exception:
            ok = False
        self.summary["ok"] = ok
        self.summary["total_seconds"] = round(sum(s["seconds"] for s in self.summary["stages"].values()), 2)
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2))
        print(json.dumps(self.summary, indent=2))
        return 0 if ok else 1


HEADLINE = ("person_psnr", "person_ssim", "baseline_person_psnr", "baseline_person_ssim", "gain_db", "mask_iou",
            "sharpness", "frame_psnr")


def avatar_headline(report: dict) -> dict:
    """The avatar's held-out figures a user judges it by (person region; frame_psnr is mostly background)."""
    m = report.get("metrics", {})
    out = {k: round(float(m[k]), 4) for k in HEADLINE if k in m}
    if out:
        out |= {"frames": m.get("frames"), "size": report.get("size"), "steps": report.get("step"),
                "picture": str(Path(report.get("checkpoint", ".")).parent / "eval_test.png")}
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", help="your video (default: render the embedded sample clip)")
    p.add_argument("--model", default="anny", choices=("anny", "smplx", "smplh", "smpl"))
    p.add_argument("--model-dir", help="folder with your SMPL-X/SMPL-H/SMPL model files")
    p.add_argument("--out", default=str(REPO / "out" / "demo"))
    p.add_argument("--frames", type=int, default=90, help="sample clip length")
    p.add_argument("--size", type=int, default=512, help="sample clip resolution")
    p.add_argument("--max-frames", type=int, default=None, help="estimate at most this many frames of the video")
    p.add_argument("--avatar-size", type=int, default=256, help="avatar resolution (512 on a GPU)")
    p.add_argument("--avatar-steps", type=int, default=300, help="avatar training steps")
    p.add_argument("--avatar-batch", type=int, default=2,
                   help="images per step (256 px x 2 costs what 128 px x 8 did)")
    p.add_argument("--avatar-base", type=int, default=16,
                   help="avatar network width (16: ~6 min of CPU for 300 steps at 256 px; 32 on a GPU)")
    p.add_argument("--avatar-texture", type=int, default=8, help="neural texture channels (0: none)")
    p.add_argument("--avatar-texture-lr", type=float, default=1.0, help="neural texture learning rate / lr")
    p.add_argument("--skip-avatar", action="store_true")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(Demo(parse_args()).run())
