"""ONNX export equals the torch network; rendering new motions (and shape edits) writes RGBA PNG sequences."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from backend.avatar.infer import export_onnx, onnx_session, render_motion, run_onnx
from backend.avatar.train import load_checkpoint


def test_onnx_output_equals_torch_with_a_dynamic_batch(short_run, tmp_path):
    path = export_onnx(short_run, tmp_path / "avatar.onnx")
    model, _ = load_checkpoint(short_run)
    x = torch.rand(3, model.config.in_channels, 64, 64)  # exported with batch 1, run with 3
    with torch.no_grad():
        ref = model(x).numpy()
    sess = onnx_session(path)
    assert sess.get_providers()[-1] == "CPUExecutionProvider"
    out = run_onnx(sess, x.numpy(), batch=3)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-3


def test_render_novel_motion_and_shape_edit(short_run, synthetic_clip, tmp_path):
    from backend.avatar.synthetic import synthetic_motion

    novel = synthetic_motion(frames=5, period=7.0)  # a different motion than the training clip
    novel = type(novel)(**{**novel.__dict__, "camera": None})  # no camera: the tracking camera is used
    motion_path = novel.save(tmp_path / "novel.npz")
    onnx = export_onnx(short_run, tmp_path / "avatar.onnx")
    a = render_motion(short_run, motion_path, tmp_path / "torch", device="cpu", frame="crop")
    b = render_motion(short_run, motion_path, tmp_path / "onnx", onnx=onnx, device="cpu", frame="crop")
    c = render_motion(short_run, motion_path, tmp_path / "tall", betas=np.array([0.25, 0.3]), alpha="raster",
                      device="cpu", frame="crop")
    imgs = [cv2.imread(str(d / "00002.png"), cv2.IMREAD_UNCHANGED) for d in (a, b, c)]
    assert all(img.shape == (64, 64, 4) for img in imgs)
    assert len(list(a.glob("*.png"))) == 5
    assert np.abs(imgs[0].astype(int) - imgs[1].astype(int)).max() <= 2  # torch and onnxruntime agree
    alpha_body = imgs[2][..., 3] > 128  # raster alpha: the taller, wider body covers more pixels
    plain = render_motion(short_run, motion_path, tmp_path / "plain", alpha="raster", device="cpu", frame="crop")
    alpha_plain = cv2.imread(str(plain / "00002.png"), cv2.IMREAD_UNCHANGED)[..., 3] > 128
    assert alpha_body.sum() > 1.2 * alpha_plain.sum() > 0


def test_cli_export_and_render(short_run, synthetic_clip, tmp_path):
    _, motion = synthetic_clip
    onnx = tmp_path / "cli.onnx"
    run = [sys.executable, "-m", "backend", "avatar"]
    subprocess.run(run + ["export-onnx", "--checkpoint", str(short_run), "--out", str(onnx)], check=True, timeout=120)
    assert onnx.is_file() and onnx.with_suffix(".json").is_file()
    res = subprocess.run(run + ["render", "--checkpoint", str(short_run), "--motion", str(motion), "--out",
                                str(tmp_path / "frames"), "--onnx", str(onnx), "--camera", "motion",
                                "--background", "0,1,0"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 60
    assert cv2.imread(str(tmp_path / "frames" / "00000.png"), cv2.IMREAD_UNCHANGED).shape == (120, 160, 4)
    bad = subprocess.run(run + ["render", "--checkpoint", str(tmp_path / "nope.pt"), "--motion", str(motion),
                                "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no avatar checkpoint" in bad.stderr


def test_render_job_writes_frames_and_rejects_bad_params(short_run, synthetic_clip, tmp_path):
    import threading

    from backend.avatar.jobs import render_avatar
    from backend.jobs.registry import JobContext, JobError

    _, motion = synthetic_clip
    events = []
    ctx = JobContext("r1", tmp_path, "cpu", lambda *a: events.append(a), threading.Event())
    files = render_avatar({"checkpoint": str(short_run), "motion": str(motion), "background": [1, 1, 1]}, ctx)
    assert len(list((tmp_path / "frames").glob("*.png"))) == 60 and files["frames"] == str(tmp_path / "frames")
    assert events[-1][:3] == ("render", 60, 60)
    with pytest.raises(JobError, match="camera"):
        render_avatar({"checkpoint": str(short_run), "motion": str(motion), "camera": "orbit"}, ctx)
    with pytest.raises(JobError, match="does not exist"):
        render_avatar({"checkpoint": str(tmp_path / "none.pt"), "motion": str(motion)}, ctx)


def test_full_frame_render_puts_the_person_where_the_person_was(short_run, synthetic_clip, tmp_path):
    """Full-frame RGBA at the source size: the alpha (raster matte) lands on the body's pixels in the source frame."""
    import json

    import torch

    from backend.avatar.body import load_model, motion_vertices
    from backend.avatar.raster import render_channels
    from blender_addon.core.motion import Motion

    _, motion_path = synthetic_clip
    out = render_motion(short_run, motion_path, tmp_path / "full", alpha="raster", device="cpu")
    info = json.loads((out / "frames.json").read_text())
    assert (info["width"], info["height"], info["camera"]) == (160, 120, "motion")
    motion = Motion.load(motion_path)
    body = load_model("procedural")
    for i in (3, 40):
        img = cv2.imread(str(out / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert img.shape == (120, 160, 4)
        v = motion_vertices(body, motion, [i])
        cam = motion.camera
        R, t = torch.as_tensor(cam.R[i:i + 1]).float(), torch.as_tensor(cam.t[i:i + 1]).float()
        camv = torch.einsum("bij,bvj->bvi", R, v) + t[:, None]
        _, cov = render_channels(camv, torch.as_tensor(cam.K[i:i + 1]).float(), body.faces, 120, 160,
                                 torch.ones(v.shape[1], 1))
        truth, got = cov[0, 0].numpy() > 0.5, img[..., 3] > 128
        iou = (truth & got).sum() / (truth | got).sum()
        assert iou > 0.85, (i, iou)
    half = render_motion(short_run, motion_path, tmp_path / "half", device="cpu", frame_scale=0.5)
    assert cv2.imread(str(half / "00000.png"), cv2.IMREAD_UNCHANGED).shape == (60, 80, 4)
    with pytest.raises(ValueError, match="frame scale"):
        render_motion(short_run, motion_path, tmp_path / "bad", device="cpu", frame_scale=0)
