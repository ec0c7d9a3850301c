"""Benchmark: bulk keyframing (fcurves.new + keyframe_points.add + foreach_set) vs keyframe_insert.

Imports a 10,000-frame motion on an SMPL-X-sized rig (55 joints: 55 quaternions + root location, and 486
pose-corrective shape-key weights) with the add-on's bulk path, and measures two ``keyframe_insert`` baselines in
the same run on subsets, extrapolated:
- per key: every channel on the first few frames (cheap short curves: a lower bound on the baseline);
- per curve: one channel over all frames (keyframe_insert re-sorts/re-handles the whole curve on each insert, so
  its cost per key grows with the curve's length), times the number of curves.
Prints seconds and the ratios.

    .venv/bin/python scripts/bench/bench_keyframes.py [--frames 10000] [--baseline-frames 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bpy  # noqa: E402

from blender_addon.builders import animation  # noqa: E402
from blender_addon.builders.common import Created  # noqa: E402
from blender_addon.builders.scene import build_body  # noqa: E402
from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402


def smplx_sized_rig(num_verts: int = 200, num_faces: int = 300, seed: int = 0) -> RigSpec:
    """A synthetic rig with SMPL-X's sizes: 55 joints (random tree, random bone frames), 10 shape, 10 expression
    and 486 pose-corrective blendshapes; ``num_verts`` vertices with 4 skin weights each."""
    rng = np.random.default_rng(seed)
    J = 55
    parents = np.array([-1] + [int(rng.integers(0, j)) for j in range(1, J)], np.int32)
    rest = np.zeros((J, 3))
    for j in range(1, J):
        rest[j] = rest[parents[j]] + rng.normal(scale=0.1, size=3)
    q = rng.normal(size=(J, 4))
    from blender_addon.core.rotations import quat_to_matrix

    orient = quat_to_matrix(q)
    tails = rest + 0.05 * orient[:, :, 1]
    verts = rest[rng.integers(0, J, num_verts)] + rng.normal(scale=0.05, size=(num_verts, 3))
    w = np.zeros((num_verts, J), np.float32)
    for _ in range(4):
        w[np.arange(num_verts), rng.integers(0, J, num_verts)] += rng.uniform(0.1, 1, num_verts)
    w /= w.sum(1, keepdims=True)
    faces = rng.integers(0, num_verts, (num_faces, 3)).astype(np.int32)
    S, E, P = 10, 10, 9 * (J - 1)

    def dirs(k, s):
        return rng.normal(scale=s, size=(k, num_verts, 3)).astype(np.float32)

    return RigSpec(model="smplx", joint_names=tuple(f"joint{j:02d}" for j in range(J)), parents=parents,
                   rest_joints=rest, rest_orient=orient, bone_tails=tails, template=verts, faces=faces,
                   skin_weights=w, shape_names=tuple(f"Shape{k:03d}" for k in range(S)), shape_dirs=dirs(S, 0.01),
                   shape_joint_dirs=np.zeros((S, J, 3), np.float32), shape_range=np.tile([[-5, 5]], (S, 1)),
                   expr_names=tuple(f"Exp{k:03d}" for k in range(E)), expr_dirs=dirs(E, 0.005),
                   expr_joint_dirs=np.zeros((E, J, 3), np.float32), expr_range=np.tile([[-3, 3]], (E, 1)),
                   pose_names=tuple(f"Pose{k:03d}" for k in range(P)), pose_dirs=dirs(P, 0.002))


def random_motion(rig: RigSpec, frames: int, seed: int = 1) -> Motion:
    rng = np.random.default_rng(seed)
    return Motion(model=rig.model, fps=30.0, joint_names=rig.joint_names,
                  rotvec=rng.normal(scale=0.3, size=(frames, rig.num_joints, 3)),
                  transl=rng.normal(scale=0.1, size=(frames, 3)), betas=np.zeros(10))


def bulk(rig: RigSpec, motion: Motion) -> tuple[float, float, int]:
    """Seconds for the whole bulk import and for its keyframing part alone, and the number of keys written."""
    res = build_body(rig, name="Bulk")
    arm, mesh = bpy.data.objects[res.armature], bpy.data.objects[res.mesh]
    created = Created()
    writes = [0.0]
    real_add = animation.add_curves

    def timed_add(*args, **kw):
        t = time.perf_counter()
        real_add(*args, **kw)
        writes[0] += time.perf_counter() - t

    animation.add_curves = timed_add
    try:
        t0 = time.perf_counter()
        _, R = animation.animate_armature(arm, rig, motion, 1, created)
        animation.animate_shape_keys(mesh, rig, motion, 1, created, [], res.shape_keys["pose"], R)
        total = time.perf_counter() - t0
    finally:
        animation.add_curves = real_add
    keys = motion.num_frames * (4 * rig.num_joints + 3 + len(rig.pose_names))
    return total, writes[0], keys


def baseline(rig: RigSpec, motion: Motion, frames: int) -> tuple[float, int]:
    """keyframe_insert on the first ``frames`` frames: seconds and keys written."""
    res = build_body(rig, name="Insert")
    arm, mesh = bpy.data.objects[res.armature], bpy.data.objects[res.mesh]
    from blender_addon.builders.animation import pose_bone_channels

    quats, loc, R = pose_bone_channels(rig.rest_orient, motion.rotvec[:frames], motion.transl[:frames])
    feat = rig.pose_feature(R)
    blocks = mesh.data.shape_keys.key_blocks
    pose_blocks = [blocks[n] for n in res.shape_keys["pose"]]
    pbones = [arm.pose.bones[n] for n in rig.joint_names]
    t0 = time.perf_counter()
    for f in range(frames):
        for j, pb in enumerate(pbones):
            pb.rotation_quaternion = quats[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        pbones[0].location = loc[f]
        pbones[0].keyframe_insert("location", frame=f + 1)
        for k, kb in enumerate(pose_blocks):
            kb.value = feat[f, k]
            kb.keyframe_insert("value", frame=f + 1)
    return time.perf_counter() - t0, frames * (4 * rig.num_joints + 3 + len(rig.pose_names))


def baseline_curve(rig: RigSpec, frames: int) -> float:
    """keyframe_insert of one shape-key value on every one of ``frames`` frames: seconds."""
    res = build_body(rig, name="InsertCurve")
    kb = bpy.data.objects[res.mesh].data.shape_keys.key_blocks[res.shape_keys["pose"][0]]
    values = np.random.default_rng(2).uniform(-0.5, 0.5, frames)
    t0 = time.perf_counter()
    for f in range(frames):
        kb.value = values[f]
        kb.keyframe_insert("value", frame=f + 1)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--baseline-frames", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3, help="bulk runs; the fastest counts (shared machines are noisy)")
    ap.add_argument("--skip-curve-baseline", action="store_true", help="skip the one-full-curve baseline (slow)")
    args = ap.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = smplx_sized_rig()
    motion = random_motion(rig, args.frames)
    runs = [bulk(rig, motion) for _ in range(max(1, args.repeat))]
    total, writes, keys = min(runs)
    print("bulk runs (s): " + ", ".join(f"{r[0]:.2f}" for r in runs))
    base_s, base_keys = baseline(rig, motion, args.baseline_frames)
    per_key = base_s / base_keys
    extrapolated = per_key * keys
    print(f"frames: {args.frames}, joints: {rig.num_joints}, corrective weights: {len(rig.pose_names)}, "
          f"keys: {keys:,}")
    print(f"bulk import (conversion + keyframing): {total:.3f} s; keyframing alone: {writes:.3f} s "
          f"({keys / writes / 1e6:.1f} M keys/s)")
    print(f"keyframe_insert baseline: {base_s:.3f} s for {base_keys:,} keys ({args.baseline_frames} frames) -> "
          f"{per_key * 1e6:.2f} us/key -> {extrapolated:.1f} s extrapolated for all keys")
    print(f"speed-up vs per-key baseline: {extrapolated / total:.0f}x (whole import), "
          f"{extrapolated / writes:.0f}x (keyframing)")
    if not args.skip_curve_baseline:
        curves = 4 * rig.num_joints + 3 + len(rig.pose_names)
        one = baseline_curve(rig, args.frames)
        full = one * curves
        print(f"keyframe_insert baseline: {one:.2f} s for one {args.frames}-key curve -> {full:.0f} s extrapolated "
              f"for {curves} curves")
        print(f"speed-up vs per-curve baseline: {full / total:.0f}x (whole import), {full / writes:.0f}x (keyframing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
