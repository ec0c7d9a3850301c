"""Batch conversion as Ray tasks on a local cluster started here (2 CPUs), and the engine's bad-input paths.

The conversions are real (``scripts/batch_convert.py`` on short motion files), so the cluster tests take a minute
or two on 2 cores and are marked slow; the address and argument checks are fast."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_ray_address_fails_before_anything_starts(tmp_path):
    motion = tmp_path / "a.npz"
    motion.write_bytes(b"x")
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "batch_convert.py"), str(motion), "--out", str(out),
                           "--engine", "ray", "--address", f"ray://127.0.0.1:{_closed_port()}"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Ray cluster at ray://127.0.0.1:" in proc.stderr and "Nothing was started" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # no summary, no job folders
    assert time.monotonic() - t0 < 60


def test_job_options_drop_inputs_and_farm_options():
    from farm.cli import job_cli_args

    argv = ["a.npz", "clips/", "--out", "o", "--engine", "ray", "--address=ray://h:1", "--workers", "2",
            "--formats", "blend", "--retarget", "rig.fbx"]
    assert job_cli_args(argv, ["a.npz", "clips/"]) == ["--formats", "blend", "--retarget", "rig.fbx"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "scripts")])}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def motions(tmp_path_factory, anny_rigspec_path):
    from backend.demo.sample_motion import sample_motion
    from blender_addon.core.rigspec import RigSpec

    rig = RigSpec.load(anny_rigspec_path)
    folder = tmp_path_factory.mktemp("inputs")
    motion = dataclasses.replace(sample_motion(rig.joint_names, frames=8), camera=None)
    paths = [motion.save(folder / f"walk{i}.npz") for i in range(2)]
    bad = folder / "corrupt.mp4"
    bad.write_bytes(os.urandom(4000))
    return paths, bad


def _farm(argv: list[str]) -> int:
    from batch_convert import expand_inputs, parse_args
    from farm.cli import run_farm

    args = parse_args(argv)
    args.out = args.out.resolve()
    return run_farm(args, expand_inputs(args.inputs), args.out / "summary.json", argv)


@pytest.mark.slow
def test_ray_converts_inputs_reports_the_corrupt_one_and_skips_on_rerun(ray_cluster, motions, tmp_path):
    (a, b), bad = motions
    argv = [str(a), str(b), str(bad), "--out", str(tmp_path), "--engine", "ray", "--formats", "blend,glb",
            "--device", "cpu"]
    assert _farm(argv) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    by_name = {Path(e["input"]).name: e for e in summary["inputs"]}
    assert summary["engine"] == "ray" and summary["converted"] == 2 and summary["failed"] == 1
    assert not by_name["corrupt.mp4"]["ok"] and "corrupt.mp4" in by_name["corrupt.mp4"]["error"]
    for name in ("walk0", "walk1"):
        entry = by_name[f"{name}.npz"]
        assert entry["ok"] and entry["frames"] == 8
        assert Path(entry["outputs"]["blend"]) == tmp_path / name / f"{name}.blend"
        assert (tmp_path / name / "done.json").is_file() and (tmp_path / name / f"{name}.glb").stat().st_size > 1000
    t0 = time.monotonic()
    assert _farm(argv) == 1  # the corrupt input fails again; the others are not redone
    again = {Path(e["input"]).name: e for e in json.loads((tmp_path / "summary.json").read_text())["inputs"]}
    assert again["walk0.npz"]["skipped"] and again["walk1.npz"]["skipped"]
    assert time.monotonic() - t0 < by_name["walk0.npz"]["seconds"] + 30


@pytest.mark.slow
def test_ray_retries_a_job_whose_worker_is_killed(ray_cluster, motions, tmp_path):
    from farm.engines import Progress, run_ray

    (a, _), _ = motions
    progress = Progress(tmp_path / "summary.json", [a], "ray")
    folder = tmp_path / "walk0"
    runner = threading.Thread(target=run_ray, args=([(str(a), str(folder))], ["--formats", "blend", "--device",
                                                                              "cpu"], progress))
    runner.start()
    deadline = time.monotonic() + 120
    while not (folder / "running.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    first = json.loads((folder / "running.json").read_text())
    assert first["attempt"] == 1
    live = json.loads((tmp_path / "summary.json").read_text())  # streamed: written before any input finished
    assert live["pending"] == 1 and live["inputs"][0]["state"] == "pending"
    time.sleep(1.0)  # mid-job: the conversion subprocess is running
    os.kill(first["pid"], signal.SIGKILL)
    runner.join(timeout=400)
    entry = progress.entries[str(a)]
    assert entry["ok"], entry
    assert entry["attempt"] == 2  # the retry, in a fresh work folder
    assert (folder / "walk0.blend").is_file() and (folder / "done.json").is_file()
    assert not list(folder.glob(".work-*"))  # the killed attempt's folder is gone too


def test_gpu_requests_per_job():
    from farm.engines import gpus_for

    assert gpus_for("a.mp4", avatar=True, cluster_gpus=2) == 1.0
    assert gpus_for("a.MOV", avatar=False, cluster_gpus=2) == 0.25
    assert gpus_for("a.npz", avatar=True, cluster_gpus=2) == 0.0
    assert gpus_for("a.mp4", avatar=True, cluster_gpus=0) == 0.0  # CPU-only cluster: never wait for a GPU


def test_job_cli_runs_one_input_and_skips_when_done(tmp_path):
    """The per-input job's own CLI (what Flamenco/OpenJD tasks run): a done-marker with the same options skips."""
    from farm.job import DONE, options_key, write_json

    clip = tmp_path / "clips" / "walk.npz"
    clip.parent.mkdir()
    clip.write_bytes(b"not a motion")
    folder = tmp_path / "out" / "walk"
    folder.mkdir(parents=True)
    key = options_key([str(clip.resolve()), "--formats", "blend"])
    write_json(folder / DONE, {"options": key, "entry": {"input": str(clip), "ok": True, "outputs": {}}})
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "farm" / "job.py"), "--folder", str(clip.parent),
                           "--index", "1", "--out", str(tmp_path / "out"), "--", "--formats", "blend"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["skipped"] is True
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "farm" / "job.py"), "--folder", str(clip.parent),
                           "--index", "2", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "holds 1 inputs" in proc.stderr
