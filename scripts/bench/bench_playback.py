"""Benchmark: playback frame time of a 10,000-frame SMPL-X-sized rig, with and without corrective shape keys.

Builds (with the add-on's ``build_motion``) a synthetic rig with SMPL-X's sizes (55 joints, 10,475 vertices,
20,908 faces, 10 shape, 10 expression and 486 pose-corrective shape keys), animated for 10,000 frames, then times
``scene.frame_set`` (animation + depsgraph evaluation incl. the Armature modifier) and the read of the evaluated
vertices on random frames. The build without correctives is the baseline measured in the same run.

    .venv/bin/python scripts/bench/bench_playback.py [--frames 10000] [--samples 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bpy  # noqa: E402
from bench_keyframes import random_motion, smplx_sized_rig  # noqa: E402

from blender_addon.builders.scene import build_motion  # noqa: E402
from blender_addon.builders.shapekeys import set_correctives_muted  # noqa: E402


def _time_frames(scene, mesh, picks, n_verts: int) -> tuple[float, float]:
    co = np.empty(n_verts * 3, np.float32)
    scene.frame_set(int(picks[0]))  # warm-up
    set_s, read_s = [], []
    for f in picks:
        t = time.perf_counter()
        scene.frame_set(int(f))
        set_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        ev = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
        ev.data.vertices.foreach_get("co", co)
        read_s.append(time.perf_counter() - t)
    return 1e3 * float(np.median(set_s)), 1e3 * float(np.median(read_s))


def measure(correctives: bool, frames: int, samples: int) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = smplx_sized_rig(num_verts=10475, num_faces=20908)
    motion = random_motion(rig, frames)
    t0 = time.perf_counter()
    res = build_motion(rig, motion, correctives=correctives)
    build_s = time.perf_counter() - t0
    scene = bpy.context.scene
    mesh = bpy.data.objects[res.mesh]
    rng = np.random.default_rng(0)
    picks = rng.integers(res.frame_start, res.frame_end + 1, samples)
    frame_ms, read_ms = _time_frames(scene, mesh, picks, rig.num_vertices)
    out = {"build_s": build_s, "frame_ms": frame_ms, "read_ms": read_ms,
           "keys": len(mesh.data.shape_keys.key_blocks) - 1}
    if correctives:  # the same rig with its corrective keys muted (the viewport-playback switch)
        set_correctives_muted(mesh, True)
        out["muted_ms"] = _time_frames(scene, mesh, picks, rig.num_vertices)[0]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=60)
    args = ap.parse_args(argv)
    without = measure(False, args.frames, args.samples)
    with_c = measure(True, args.frames, args.samples)
    for label, r in (("without correctives", without), ("with 486 correctives", with_c)):
        print(f"{label:>22}: build {r['build_s']:.2f} s, {r['keys']} shape keys, frame_set {r['frame_ms']:.1f} ms "
              f"(~{1e3 / r['frame_ms']:.0f} fps), evaluated-vertex read {r['read_ms']:.2f} ms")
    print(f"corrective cost: x{with_c['frame_ms'] / without['frame_ms']:.1f} frame time "
          f"(+{with_c['frame_ms'] - without['frame_ms']:.1f} ms per frame); with the correctives muted: "
          f"{with_c['muted_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
