"""Training a tiny avatar on the synthetic clip: it learns the texture, checkpoints resume, jobs cancel."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from backend.avatar.config import TrainConfig
from backend.avatar.evaluate import evaluate
from backend.avatar.train import train

TINY = dict(batch=8, base=16, depth=3, lr=3e-3, eval_every=1000, ckpt_every=1000, log_every=50, shift=0.02)


@pytest.mark.slow
def test_tiny_avatar_beats_copying_the_input_on_held_out_frames(synthetic_dataset, tmp_path):
    ckpt = train(synthetic_dataset, tmp_path, TrainConfig(steps=200, **TINY), device="cpu")
    report = evaluate(ckpt, synthetic_dataset, tmp_path, "test", device="cpu")
    m = report["metrics"]
    assert m["frames"] > 0
    # the network reproduces the striped, shaded texture; copying the colour-code raster does not
    assert m["person_psnr"] > m["baseline_person_psnr"] + 6.0, m
    assert m["person_psnr"] > 17.0 and m["person_ssim"] > 0.5 and m["mask_iou"] > 0.8, m
    assert m["gain_db"] == pytest.approx(m["person_psnr"] - m["baseline_person_psnr"])
    saved = json.loads((tmp_path / "eval_test.json").read_text())
    assert saved["metrics"]["person_psnr"] == pytest.approx(m["person_psnr"])
    assert (tmp_path / "eval_test.png").stat().st_size > 1000


def test_checkpoint_resume_continues_the_step_count(synthetic_dataset, tmp_path):
    cfg = dict(TINY, batch=4, eval_every=4, ckpt_every=4)
    ckpt = train(synthetic_dataset, tmp_path, TrainConfig(steps=4, **cfg), device="cpu")
    first = torch.load(ckpt, weights_only=False)
    assert first["step"] == 4 and first["history"][-1]["step"] == 4
    adam_steps = [s["step"] for s in first["optimizer"]["state"].values()]
    ckpt = train(synthetic_dataset, tmp_path, TrainConfig(steps=10, **cfg), device="cpu")
    second = torch.load(ckpt, weights_only=False)
    assert second["step"] == 10
    assert [h["step"] for h in second["history"]] == [4, 8, 10]
    # the optimiser state came back too: Adam's own step counters continued from 4
    assert all(float(s["step"]) == 10 for s in second["optimizer"]["state"].values())
    assert all(float(s) == 4 for s in adam_steps)
    # weights changed after resuming
    k = next(iter(first["model"]))
    assert not torch.equal(first["model"][k], second["model"][k])


def test_train_job_reports_progress_and_cancels_with_a_checkpoint(synthetic_dataset, tmp_path):
    from backend.avatar.jobs import train_avatar
    from backend.jobs.registry import JobCancelled, JobContext, JobError, get_job

    assert get_job("train_avatar") is train_avatar and get_job("render_avatar") is not None
    events, cancel = [], threading.Event()

    def report(stage, done, total, message):
        events.append((stage, done, total))
        if stage == "train" and done >= 6:
            cancel.set()

    ctx = JobContext("j1", tmp_path, "cpu", report, cancel)
    with pytest.raises(JobCancelled):
        train_avatar(dict(dataset=str(synthetic_dataset), steps=200, **dict(TINY, batch=4, log_every=3)), ctx)
    assert ("train", 3, 200) in events and ("train", 6, 200) in events
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["step"] == 6
    with pytest.raises(JobError, match="video"):
        train_avatar({"steps": 1}, JobContext("j2", tmp_path / "other", "cpu", report, threading.Event()))


def test_frames_without_a_person_are_left_out_of_the_person_figures(synthetic_dataset, short_run):
    import dataclasses

    from backend.avatar.dataset import load_dataset
    from backend.avatar.train import evaluate_split, load_checkpoint

    model, _ = load_checkpoint(short_run)
    data = load_dataset(synthetic_dataset)
    test = data.indices("test")
    full = evaluate_split(model, data, "test")
    masks = data.masks.clone()
    masks[test[0], 0] = 0  # the perception found no person on this frame
    emptied = evaluate_split(model, dataclasses.replace(data, masks=masks), "test")
    assert full["person_frames"] == len(test) and emptied["person_frames"] == len(test) - 1
    assert emptied["person_psnr"] < 60  # not the 100 dB an empty region scores
    assert emptied["person_psnr"] != full["person_psnr"]
