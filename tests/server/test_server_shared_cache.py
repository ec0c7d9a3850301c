"""The CLI and the server resolve the same detections cache ($SMPLPIX_CACHE_DIR/detections), so an estimate run in
one is re-used by the other (before, the server kept its own cache beside its job folders)."""

from __future__ import annotations

import os
import subprocess
import sys

from blender_addon.ipc import protocol as P
from blender_addon.ipc.backend_process import BackendProcess


def test_cli_and_server_use_the_same_detections_cache(repo_root, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache_env = blocker / "cache"  # unwritable even for root: both must report this very folder
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"x")
    expected = str(cache_env / "detections")

    env = {**os.environ, "SMPLPIX_CACHE_DIR": str(cache_env), "PYTHONPATH": str(repo_root)}
    cli = subprocess.run([sys.executable, "-m", "backend", "estimate", str(video), "-o", str(tmp_path / "m.npz")],
                         cwd=repo_root, env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and expected in cli.stderr and "detections cache" in cli.stderr, cli.stderr

    proc = BackendProcess(python=sys.executable, repo_root=repo_root, job_root=tmp_path / "jobs", device="cpu",
                          extra_env={"SMPLPIX_CACHE_DIR": str(cache_env)})
    proc.start(timeout=120)
    try:
        with proc.connect() as client:
            err = client.wait_for(client.submit("estimate", {"input": str(video)}), timeout=60)
    finally:
        proc.stop()
    assert isinstance(err, P.Error) and err.kind == P.ERR_FAILED, err
    assert expected in err.message and "detections cache" in err.message, err.message
