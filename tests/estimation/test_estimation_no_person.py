"""Videos without a person (noise), or with one in fewer than 10 % of the frames: one clear error, early, from
the estimate, the CLI (exit code 2, no traceback, nothing written) and the job."""

from __future__ import annotations

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest


def _write(path, frames):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture(scope="module")
def noise_video(tmp_path_factory):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(20)]
    return _write(tmp_path_factory.mktemp("noise") / "noise.avi", frames)


def test_noise_video_stops_detection_early(noise_video, tmp_path):
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.perception.detect import NoPersonError

    seen = []
    with pytest.raises(NoPersonError, match="noise.avi: a person was detected in only 0 of the first 19 frames"):
        estimate(EstimateRequest(input=noise_video, output=tmp_path / "m.npz"),
                 progress=lambda stage, d, n, msg: seen.append(d) if stage == "detect" else None)
    assert max(seen) < 20  # stopped as soon as 10 % could no longer be reached
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.slow
def test_cli_and_job_report_no_person(noise_video, tmp_path, repo_root):
    out = tmp_path / "m.npz"
    proc = subprocess.run([sys.executable, "-m", "backend", "estimate", str(noise_video), "-o", str(out),
                           "--cache-dir", "none"], cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "noise.avi" in proc.stderr and "person was detected" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()

    from backend.jobs.estimate_job import estimate_job
    from backend.jobs.registry import JobContext, JobError

    job_dir = tmp_path / "job"
    job_dir.mkdir()
    ctx = JobContext(job_id="j1", job_dir=job_dir, device="cpu", _report=lambda *a: None, _cancel=threading.Event())
    with pytest.raises(JobError, match="person was detected"):
        estimate_job({"input": str(noise_video)}, ctx)


def test_person_in_too_few_frames(shared_data, tmp_path):
    """A real person in 2 of 30 frames (noise around them): the error names the count."""
    from backend.fitting.estimate import EstimateRequest, estimate
    from backend.perception.detect import NoPersonError

    cap = cv2.VideoCapture(str(shared_data / "pose2sim_multiperson" / "cam04.mp4"))
    ok, person = cap.read()
    cap.release()
    if not ok:
        pytest.skip("cannot decode the shared multi-view video")
    person = cv2.resize(person, (272, 480), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    frames = [person if i in (10, 11) else rng.integers(0, 255, person.shape, dtype=np.uint8) for i in range(30)]
    video = _write(tmp_path / "brief.avi", frames)
    with pytest.raises(NoPersonError, match=r"brief.avi: a person was detected in only 2 of 30 frames \(7 %\)"):
        estimate(EstimateRequest(input=video, output=tmp_path / "m.npz"))
