"""The real video (../shared): real MediaPipe detections, the fit, the CLI, the job and the contact sheet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from backend.perception.detect import DetectSettings, detect_keypoints
from backend.perception.frames import FrameRange

SUBSET = FrameRange(0, 60, 2)


def _package_files() -> set[str]:
    import mediapipe

    root = Path(mediapipe.__file__).parent
    return {str(p.relative_to(root)) for p in root.rglob("*.tflite")}


@pytest.fixture(scope="module")
def subset_detections(jump_video, tmp_path_factory):
    cache = tmp_path_factory.mktemp("detections")
    before = _package_files()
    kp = detect_keypoints(jump_video, SUBSET, DetectSettings(), cache)
    return kp, cache, before


def test_detections_on_real_frames(subset_detections):
    kp, _, before = subset_detections
    assert kp.num_frames == 30 and list(kp.frame_indices[:3]) == [0, 2, 4]
    assert kp.found.mean() >= 0.95
    w, h = kp.image_size
    assert (w, h) == (1768, 994)
    body = kp.body[kp.found]
    assert np.all((body[..., 2] >= 0) & (body[..., 2] <= 1))
    vis = body[..., 2] > 0.5
    assert np.all((body[..., 0][vis] > -50) & (body[..., 0][vis] < w + 50))
    # Metric world landmarks: shoulder width of an adult.
    sw = np.linalg.norm(kp.body_world[kp.found, 11] - kp.body_world[kp.found, 12], axis=-1)
    assert 0.2 < np.median(sw) < 0.6
    # The person mask covers the person's hips (stored at reduced resolution).
    mh, mw = kp.masks.shape[1:]
    hip = (kp.body[kp.found, 23, :2] + kp.body[kp.found, 24, :2]) / 2 * (mw / w)
    vals = [kp.masks[np.nonzero(kp.found)[0][i], int(y), int(x)] for i, (x, y) in enumerate(hip)]
    assert np.median(vals) > 127
    # Tracked box holds the person and stays put on this standing part of the clip.
    centres = (kp.bbox[kp.found, :2] + kp.bbox[kp.found, 2:]) / 2
    assert np.ptp(centres[:, 0]) < 300
    # Nothing was downloaded into the mediapipe package (only bundled models are used).
    assert _package_files() == before


def test_detections_are_cached(subset_detections, caplog):
    kp, cache, _ = subset_detections
    files = list(Path(cache).glob("keypoints_*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    with caplog.at_level("INFO", logger="backend.perception.detect"):
        again = detect_keypoints(kp.source, SUBSET, DetectSettings(), cache)
    assert "re-using detections" in caplog.text
    assert files[0].stat().st_mtime_ns == mtime
    assert np.array_equal(again.body, kp.body)


def test_fit_on_real_subset(subset_detections, anny_model):
    from backend.fitting.fit import FitSettings, fit_keypoints
    from backend.fitting.metrics import fit_metrics
    from backend.perception.postprocess import fix_left_right_swaps

    kp, _, _ = subset_detections
    kp, _ = fix_left_right_swaps(kp)
    fit = fit_keypoints(kp, anny_model, FitSettings(iters_body=120))
    m = fit_metrics(fit.body_uv, fit.body_index, kp.body, kp.found)
    assert m["reprojection_median_px"] <= 8.0, m
    assert np.all(np.isfinite(fit.rotvec))
    assert fit.contact.shape == (kp.num_frames, 2)


def test_cli_reports_a_missing_input(tmp_path, repo_root):
    proc = subprocess.run([sys.executable, "-m", "backend", "estimate", str(tmp_path / "nope.mp4"), "-o",
                           str(tmp_path / "m.npz")], cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "nope.mp4" in proc.stderr and "no such video" in proc.stderr
    assert not (tmp_path / "m.npz").exists()


def _context(tmp_path, cancel: threading.Event, events: list):
    from backend.jobs.registry import JobContext

    job_dir = tmp_path / "job"
    job_dir.mkdir()
    return JobContext(job_id="j1", job_dir=job_dir, device="cpu",
                      _report=lambda *a: events.append(a), _cancel=cancel)


def test_estimate_job_writes_motion(jump_video, tmp_path):
    from backend.jobs.estimate_job import estimate_job
    from backend.jobs.registry import get_job
    from blender_addon.core.motion import Motion

    import backend.fitting.jobs  # noqa: F401  (the module the server imports)

    assert get_job("estimate") is estimate_job
    events: list = []
    ctx = _context(tmp_path, threading.Event(), events)
    files = estimate_job({"input": str(jump_video), "start": 0, "end": 24, "stride": 3, "iterations": 40,
                          "cache_dir": str(tmp_path / "cache")}, ctx)
    motion = Motion.load(files["motion"])
    assert motion.num_frames == 8 and motion.fps == pytest.approx(10.0)
    from blender_addon.core.rigspec import RigSpec

    rig = RigSpec.load(files["rig"])  # the rig comes with the motion: no second build_body round trip
    assert rig.model == motion.model and list(rig.joint_names) == list(motion.joint_names)
    assert motion.camera is not None and motion.foot_contact.shape == (8, 2)
    assert json.loads(Path(files["metrics"]).read_text())["found_fraction"] >= 0.9
    stages = [e[0] for e in events]
    assert "detect" in stages and "fit body" in stages and stages[-1] == "done"
    detect = [e for e in events if e[0] == "detect"]
    assert detect[-1][1] == detect[-1][2] == 8


def test_estimate_job_cancels(jump_video, tmp_path):
    from backend.jobs.estimate_job import estimate_job
    from backend.jobs.registry import JobCancelled, JobError

    cancel = threading.Event()
    events: list = []

    def report(*a):
        events.append(a)
        if a[0] == "detect" and a[1] >= 2:
            cancel.set()

    ctx = _context(tmp_path, cancel, events)
    ctx = type(ctx)(job_id=ctx.job_id, job_dir=ctx.job_dir, device="cpu", _report=report, _cancel=cancel)
    with pytest.raises(JobCancelled):
        estimate_job({"input": str(jump_video), "end": 40, "cache_dir": str(tmp_path / "c")}, ctx)
    assert not (ctx.job_dir / "motion.npz").exists()
    assert max(e[1] for e in events if e[0] == "detect") < 10
    with pytest.raises(JobError, match="does not exist"):
        estimate_job({"input": str(tmp_path / "missing.mp4")}, ctx)


def _assert_legs_not_raised_behind(motion_path, model):
    """In the body's own frame (root rotation undone) no ankle is both above its hip and behind it: the person
    jumps, tucks and lands, but never holds a leg up behind the back."""
    import torch

    from backend.fitting.correspondences import model_axes
    from blender_addon.core.motion import Motion
    from blender_addon.core.rotations import rotvec_to_matrix

    motion = Motion.load(motion_path)
    rig = model.rig_spec()
    names = list(rig.joint_names)
    _, up, fwd = model_axes(rig)
    with torch.no_grad():
        shape = torch.as_tensor(motion.betas, dtype=torch.float32)[None] if motion.betas.size else None
        joints = model(torch.as_tensor(motion.rotvec, dtype=torch.float32),
                       torch.as_tensor(motion.transl, dtype=torch.float32), shape=shape).joints.numpy()
    root = rotvec_to_matrix(motion.rotvec[:, 0])
    for side in ("L", "R"):
        leg = joints[:, names.index(f"foot.{side}")] - joints[:, names.index(f"upperleg01.{side}")]
        leg = np.einsum("fba,fb->fa", root, leg)  # in the root's rest axes
        leg /= np.linalg.norm(leg, axis=1, keepdims=True)
        raised = np.nonzero((leg @ up > 0.2) & (leg @ fwd < 0))[0]
        assert raised.size == 0, f"leg {side} raised behind the body in frames {raised.tolist()}"


@pytest.mark.slow
def test_whole_video_cli_and_contact_sheet(jump_video, tmp_path, repo_root, anny_model):
    """The acceptance numbers on the whole clip: person found >= 95 %, median reprojection <= 8 px, jitter of the
    fit >= 3x lower than the raw detections; no leg raised up behind the body (the landing after the flip once got
    one); and a contact sheet with the mesh drawn."""
    out, metrics = tmp_path / "motion.npz", tmp_path / "metrics.json"
    proc = subprocess.run([sys.executable, "-m", "backend", "estimate", str(jump_video), "-o", str(out),
                           "--cache-dir", str(tmp_path / "cache"), "--metrics", str(metrics)],
                          cwd=repo_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fit body" in proc.stderr  # the progress bar
    m = json.loads(metrics.read_text())
    assert m["found_fraction"] >= 0.95, m
    assert m["reprojection_median_px"] <= 8.0, m
    assert m["jitter_ratio"] >= 3.0, m
    _assert_legs_not_raised_behind(out, anny_model)
    sheet = tmp_path / "sheet.png"
    proc = subprocess.run([sys.executable, "scripts/contact_sheet.py", str(jump_video), str(out), "-o", str(sheet),
                           "--frames", "4", "--full-frame", "--width", "400"],
                          cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import cv2

    img = cv2.imread(str(sheet))
    assert img is not None and img.shape[1] == 1600


def test_estimate_job_reports_a_missing_model_file(jump_video, tmp_path):
    from backend.jobs.estimate_job import estimate_job
    from backend.jobs.registry import JobError

    ctx = _context(tmp_path, threading.Event(), [])
    with pytest.raises(JobError, match="SMPL-X"):
        estimate_job({"input": str(jump_video), "model": "smplx", "model_dir": str(tmp_path), "end": 4}, ctx)
