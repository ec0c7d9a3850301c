"""A job root or cache the backend cannot write is a clear job_failed error, never ``internal``."""

from __future__ import annotations

import shutil

from blender_addon.ipc import protocol as P


def test_unwritable_job_root_is_a_job_failed_error(fresh_backend):
    root = fresh_backend.job_root
    shutil.rmtree(root)
    root.write_text("now a file")  # every job folder would sit under a regular file: unwritable even for root
    try:
        with fresh_backend.connect() as client:
            job = client.submit("count", {"n": 1, "delay": 0})
            err = client.wait_for(job, timeout=30)
    finally:
        root.unlink()
        root.mkdir()
    assert isinstance(err, P.Error) and err.kind == P.ERR_FAILED, err
    assert "cannot write the job folder" in err.message and str(root) in err.message


def test_unwritable_detection_cache_is_a_job_failed_error(backend, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")  # exists: the cache is checked before the video is opened
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with backend.connect() as client:
        job = client.submit("estimate", {"input": str(video), "cache_dir": str(blocker / "cache")})
        err = client.wait_for(job, timeout=60)
    assert isinstance(err, P.Error) and err.kind == P.ERR_FAILED, err
    assert "detections cache" in err.message and str(blocker / "cache") in err.message
