"""Farm throughput: N short motion clips on 1 vs 2 local workers (ratio), and the per-job overhead of Ray tasks
vs the local process pool (same jobs, same 2 workers), measured in one run.

    python scripts/bench/bench_farm.py [--clips 4] [--frames 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]


def make_clips(folder: Path, n: int, frames: int) -> list[Path]:
    from backend.bodymodels.rig_cache import cached_anny_rig
    from backend.demo.sample_motion import sample_motion
    from blender_addon.core.rigspec import RigSpec

    rig = RigSpec.load(cached_anny_rig())
    motion = dataclasses.replace(sample_motion(rig.joint_names, frames=frames), camera=None)
    return [motion.save(folder / f"clip{i}.npz") for i in range(n)]


def timed(engine: str, clips: list[Path], out: Path, workers: int) -> float:
    from farm.engines import Progress, run_local, run_ray
    from farm.job import job_dirs

    jobs = [(str(p), str(d)) for p, d in zip(clips, job_dirs(out, clips), strict=True)]
    progress = Progress(out / "summary.json", clips, engine)
    t0 = time.perf_counter()
    args = ["--formats", "blend", "--device", "cpu"]
    run_ray(jobs, args, progress, workers=workers) if engine == "ray" else run_local(jobs, args, progress, workers)
    seconds = time.perf_counter() - t0
    assert all(e["ok"] for e in progress.entries.values()), progress.entries
    return seconds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--frames", type=int, default=8)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp:
        tmp = Path(tmp)
        clips = make_clips(tmp, a.clips, a.frames)
        one = timed("local", clips, tmp / "local1", 1)
        two = timed("local", clips, tmp / "local2", 2)
        ray = timed("ray", clips, tmp / "ray2", 2)
    print(f"{a.clips} clips: 1 worker {one:.1f} s, 2 workers {two:.1f} s -> throughput x{one / two:.2f}")
    print(f"Ray (2 CPUs, incl. cluster start) {ray:.1f} s vs local pool {two:.1f} s: "
          f"{(ray - two) / a.clips:+.2f} s per job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
