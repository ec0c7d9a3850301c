"""Face avatars: the synthetic face clip (Anny's head with changing facial actions, rendered by the suite), the face
dataset (head mesh, expression-driven raster), a few training steps, held-out person-region metrics, the face render,
and a checkpoint of the other subject refused with one line."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from backend.avatar.dataset import SplitSpec, load_dataset

CLI = [sys.executable, "-m", "backend", "avatar"]
SIZE = 48  # crop side of the test dataset (depth-3 UNet)


@pytest.fixture(scope="module")
def face_clip(anny_model, tmp_path_factory):
    from backend.avatar.face_synthetic import write_face_clip

    return write_face_clip(tmp_path_factory.mktemp("face_clip"), frames=28, size=96, model=anny_model)


@pytest.fixture(scope="module")
def face_run(face_clip, tmp_path_factory):
    """(dataset folder, checkpoint) of a 12-step face avatar."""
    from backend.avatar.config import TrainConfig
    from backend.avatar.face_dataset import build_face_dataset
    from backend.avatar.train import train

    frames, motion = face_clip
    root = tmp_path_factory.mktemp("face_run")
    ds = build_face_dataset(frames, motion, root / "dataset", size=SIZE, split=SplitSpec(blocks=1, gap=1)).parent
    cfg = TrainConfig(steps=12, batch=4, base=8, depth=3, eval_every=1000, ckpt_every=1000, log_every=6)
    return ds, train(ds, root, cfg, device="cpu")


def test_face_clip_is_a_face_motion_with_changing_expressions(face_clip, anny_model):
    from backend.avatar.face_dataset import head_mesh, is_face_motion
    from blender_addon.core.motion import Motion

    frames, motion_path = face_clip
    motion = Motion.load(motion_path)
    assert is_face_motion(motion) and motion.camera is not None and len(list(frames.glob("*.png"))) == 28
    names = list(anny_model.expression_names)
    jaw = motion.expression[:, names.index("jawOpen")]
    assert jaw.max() - jaw.min() > 0.5  # the mouth opens and closes
    head = head_mesh(anny_model)
    V = anny_model(anny_model.zero_pose(1)).vertices.shape[1]
    assert 1000 < len(head.vertex_index) < V / 2 and head.code.min() == 0 and head.code.max() == 1


def test_expression_drives_the_face_raster(face_clip, anny_model):
    """The same frame rasterized with and without its facial actions differs around the mouth: the network sees
    the expression."""
    import dataclasses

    from backend.avatar import render
    from backend.avatar.dataset import crop_intrinsics
    from backend.avatar.face_dataset import head_boxes, head_mesh, head_vertices
    from backend.avatar.raster import project
    from blender_addon.core.motion import Motion

    motion = Motion.load(face_clip[1])
    k = int(np.argmax(motion.expression[:, list(anny_model.expression_names).index("jawOpen")]))
    neutral = dataclasses.replace(motion, expression=np.zeros_like(motion.expression))
    head = head_mesh(anny_model)
    cam = motion.camera
    K, R, t = (torch.as_tensor(a[k:k + 1], dtype=torch.float32) for a in (cam.K, cam.R, cam.t))
    images = []
    for m in (motion, neutral):
        v = head_vertices(anny_model, head, m, np.array([k]))
        box = head_boxes(project(v, K, R, t)[1][..., :2].numpy(), cam.image_size)
        Kc = torch.as_tensor(crop_intrinsics(cam.K[k:k + 1], box, 64), dtype=torch.float32)
        images.append(render.raster_inputs(v, Kc, R, t, head.faces, head.code, 64)[0][0])
    changed = (images[0] - images[1]).abs().amax(0) > 0.1
    assert changed.sum() > 20, "the open jaw does not show in the raster"


def test_face_avatar_trains_evaluates_and_renders(face_run, face_clip, tmp_path):
    from backend.avatar.evaluate import evaluate
    from backend.avatar.face_render import render_face_motion

    ds, ckpt = face_run
    data = load_dataset(ds)
    assert data.meta["subject"] == "face" and data.inputs.shape[-1] == SIZE and len(data.indices("test")) >= 2
    report = evaluate(ckpt, ds, tmp_path, "test", device="cpu")
    m = report["metrics"]
    assert m["frames"] == len(data.indices("test"))
    assert 5 < m["person_psnr"] < 60 and 0 <= m["person_ssim"] <= 1 and 0 <= m["mask_iou"] <= 1
    assert 0 < m["baseline_person_psnr"] < 60 and np.isfinite(m["gain_db"])
    out = render_face_motion(ckpt, face_clip[1], tmp_path / "render", device="cpu")
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 28
    import cv2

    rgba = cv2.imread(str(pngs[5]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (96, 96, 4)  # full frame at the clip's size
    alpha = rgba[..., 3] > 127
    assert alpha.any()
    ys, xs = np.nonzero(alpha)  # the face lands where the head is in the frame (the clip centres it)
    assert 20 < xs.mean() < 76 and 20 < ys.mean() < 76


def test_a_checkpoint_of_the_other_subject_is_one_clear_line(face_run, face_clip, short_run, synthetic_clip,
                                                             tmp_path):
    from backend.avatar.evaluate import evaluate
    from backend.avatar.face_render import render_face_motion
    from backend.avatar.infer import render_motion
    from backend.avatar.jobs import render_avatar
    from backend.jobs.registry import JobContext

    ds, face_ckpt = face_run
    with pytest.raises(ValueError, match=r"checkpoint.pt: a body avatar checkpoint, not a face one.*--subject face"):
        render_face_motion(short_run, face_clip[1], tmp_path / "a", device="cpu")
    with pytest.raises(ValueError, match=r"checkpoint.pt: a face avatar checkpoint, not a body one.*--face"):
        render_motion(face_ckpt, synthetic_clip[1], tmp_path / "b", device="cpu")
    with pytest.raises(ValueError, match=r"a body avatar checkpoint, but the data is a face dataset"):
        evaluate(short_run, ds, tmp_path / "c", device="cpu")
    res = subprocess.run(CLI + ["render", "--face", "--checkpoint", str(short_run), "--motion", str(face_clip[1]),
                                "--out", str(tmp_path / "d"), "--device", "cpu"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if " ERROR " in ln]
    assert len(lines) == 1 and str(short_run) in lines[0] and "not a face one" in lines[0], res.stderr
    # the render job dispatches on the checkpoint: a face checkpoint renders the face motion
    ctx = JobContext("j", tmp_path / "job", "cpu", lambda *a: None, threading.Event())
    (tmp_path / "job").mkdir()
    files = render_avatar({"checkpoint": str(face_ckpt), "motion": str(face_clip[1]), "frame": "crop"}, ctx)
    frames = sorted((tmp_path / "job" / "frames").glob("*.png"))
    assert files and len(frames) == 28


@pytest.mark.slow  # ~50 s CPU: the synthetic FLAME's large random triangles make its raster slow
def test_train_avatar_job_makes_a_face_avatar_from_a_flame_estimate(synthetic_model_dir, tmp_path):
    """The job the Train Avatar operator submits (video + motion of the selected body) builds the face dataset for
    a FLAME motion on its own: every FLAME vertex is head, the expression coefficients move it."""
    from backend.avatar.body import load_model
    from backend.avatar.face_synthetic import write_face_clip
    from backend.avatar.jobs import train_avatar
    from backend.jobs.registry import JobContext
    from blender_addon.core.jobs.avatar import ROLE_CHECKPOINT, ROLE_DATASET, ROLE_EVAL_JSON
    from blender_addon.core.motion import Motion

    flame = load_model("flame", model_dir=str(synthetic_model_dir))
    frames, motion = write_face_clip(tmp_path / "clip", frames=28, size=64, model=flame)
    assert np.ptp(Motion.load(motion).expression[:, 0]) > 1.0
    ctx = JobContext("j", tmp_path / "job", "cpu", lambda *a: None, threading.Event())
    (tmp_path / "job").mkdir()
    files = train_avatar({"video": str(frames), "motion": str(motion), "size": 32, "steps": 2, "batch": 2,
                          "base": 8, "depth": 3, "mask_source": "raster", "model_dir": str(synthetic_model_dir),
                          "export_onnx": False}, ctx)
    data = load_dataset(files[ROLE_DATASET])
    V = flame(flame.zero_pose(1)).vertices.shape[1]
    assert data.meta["subject"] == "face" and data.meta["model"] == "flame" and data.meta["head_vertices"] == V
    assert (data.inputs[:, -1] > 127).any()  # the head is in the crops
    assert {ROLE_CHECKPOINT, ROLE_EVAL_JSON} <= set(files)
