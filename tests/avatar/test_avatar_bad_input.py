"""Bad input -> one clear error naming the file and the fix, before the long work, in the API, CLI and jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from backend.avatar.dataset import SplitSpec, build_dataset, min_frames

CLI = [sys.executable, "-m", "backend", "avatar"]


def _one_error_line(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if " ERROR " in ln]
    assert len(lines) == 1 and all(n in lines[0] for n in needles), res.stderr


def test_too_few_frames_for_the_held_out_split(synthetic_clip, tmp_path):
    frames, motion = synthetic_clip
    need = min_frames(SplitSpec())
    with pytest.raises(ValueError, match=f"too few for the held-out split.*at least {need}"):
        build_dataset(frames, motion, tmp_path / "ds", size=32, mask_source="raster", max_frames=need - 1)
    assert not (tmp_path / "ds" / "data.npz").exists()
    res = subprocess.run(CLI + ["train", "--video", str(frames), "--motion", str(motion), "--out", str(tmp_path / "r"),
                                "--size", "32", "--max-frames", str(need - 1), "--mask-source", "raster",
                                "--keypoints", "none"], capture_output=True, text=True, timeout=120)
    _one_error_line(res, str(frames), "longer clip")


def test_an_empty_person_mask_is_refused(synthetic_clip, tmp_path):
    frames, motion = synthetic_clip
    cache = tmp_path / "keypoints_empty.npz"  # a perception cache whose person masks are all empty
    np.savez(cache, header=json.dumps({"source": str(frames)}), masks=np.zeros((60, 30, 40), np.uint8),
             frame_indices=np.arange(60))
    with pytest.raises(ValueError, match=r"person mask .* is empty on every training frame.*--mask-source raster"):
        build_dataset(frames, motion, tmp_path / "ds", size=32, mask_source="keypoints", keypoints=cache)


def test_a_checkpoint_of_another_resolution_or_body_model(short_run, synthetic_clip, tmp_path):
    from backend.avatar.config import TrainConfig
    from backend.avatar.evaluate import evaluate
    from backend.avatar.infer import render_motion
    from backend.avatar.jobs import train_avatar
    from backend.avatar.train import train
    from backend.jobs.registry import JobContext, JobError
    from blender_addon.core.motion import Motion

    frames, motion = synthetic_clip
    small = build_dataset(frames, motion, tmp_path / "ds32", size=32, mask_source="raster").parent
    with pytest.raises(ValueError, match=r"checkpoint.pt: avatar checkpoint for resolution 64.*32"):
        evaluate(short_run, small, tmp_path / "ev", device="cpu")
    with pytest.raises(ValueError, match="resolution 64.*--fresh"):
        train(small, short_run.parent, TrainConfig(steps=1), device="cpu")
    ctx = JobContext("j", tmp_path / "job", "cpu", lambda *a: None, threading.Event())
    (tmp_path / "job").mkdir()
    with pytest.raises(JobError, match="resolution 64"):
        train_avatar({"dataset": str(small), "resume_from": str(short_run.parent), "steps": 2}, ctx)
    anny = Motion.load(motion)
    anny = type(anny)(**{**anny.__dict__, "model": "anny"})
    other = anny.save(tmp_path / "anny_motion.npz")
    with pytest.raises(ValueError, match="trained with body model 'procedural'.*retarget"):
        render_motion(short_run, other, tmp_path / "frames", device="cpu")
    res = subprocess.run(CLI + ["render", "--checkpoint", str(short_run), "--motion", str(other), "--out",
                                str(tmp_path / "f2")], capture_output=True, text=True, timeout=120)
    _one_error_line(res, str(short_run), "retarget")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    res = subprocess.run(CLI + ["eval", "--run", str(tmp_path), "--checkpoint", str(junk), "--dataset", str(small)],
                         capture_output=True, text=True, timeout=120)
    _one_error_line(res, str(junk), "not a readable avatar checkpoint")
