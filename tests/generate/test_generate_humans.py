"""Random and interpolated Anny humans, end to end through the CLI and the library (torch CPU, real Anny)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from backend.bodymodels.detail import DetailError, DetailLayer  # noqa: E402
from backend.generate.batch import generate_random, load_record, rebuild, reroll  # noqa: E402
from backend.generate.human import (  # noqa: E402
    GenerateOptions,
    make_generator,
    rest_body,
    sample_factor,
    sample_human,
    shape_strata,
)
from backend.generate.interpolate import interpolate  # noqa: E402
from backend.generate.quality import boundary_edge_count, self_intersection_fraction  # noqa: E402
from blender_addon.core.motion import Motion  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402

OPTS = dict(seed=3, frames=8)


def _cli(*args, cwd=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "backend", "generate", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def generator():
    return make_generator("anny")


@pytest.fixture(scope="module")
def cli_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    r = _cli("random", "--count", "3", "--seed", "3", "--frames", "8", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_same_seed_same_humans_byte_identical(cli_batch, generator, tmp_path):
    generate_random(3, GenerateOptions(**OPTS), tmp_path, generator=generator)
    for i in range(3):
        for suffix in (".npz", ".motion.npz"):
            with np.load(cli_batch / f"human_{i:03d}{suffix}") as a, np.load(tmp_path / f"human_{i:03d}{suffix}") as b:
                assert a.files == b.files
                for key in a.files:
                    assert a[key].tobytes() == b[key].tobytes(), (i, suffix, key)
    assert json.loads((cli_batch / "humans.json").read_text()) == json.loads((tmp_path / "humans.json").read_text())
    other = tmp_path / "other"
    generate_random(1, GenerateOptions(seed=4, frames=8), other, generator=generator)
    assert not np.array_equal(RigSpec.load(other / "human_000.npz").template,
                              RigSpec.load(cli_batch / "human_000.npz").template)


def test_humans_are_valid_closed_and_on_the_floor(cli_batch, anny_rigspec_path):
    base = RigSpec.load(anny_rigspec_path)
    data = json.loads((cli_batch / "humans.json").read_text())
    assert data["count"] == 3 and len(data["humans"]) == 3
    heights = []
    for rec in data["humans"]:
        rig = RigSpec.load(cli_batch / rec["files"]["rig"])
        motion = Motion.load(cli_batch / rec["files"]["motion"])
        assert rig.num_vertices == base.num_vertices and np.array_equal(rig.faces, base.faces)
        assert boundary_edge_count(rig.faces) == boundary_edge_count(base.faces) == 0
        assert np.all(np.isfinite(rig.template)) and np.all(np.isfinite(motion.rotvec))
        assert rig.template[:, 2].min() == pytest.approx(0.0, abs=1e-6)  # feet on the floor at rest
        assert motion.num_frames == 8 and motion.joint_names == rig.joint_names
        assert set(rec["factors"]) == {"shape", "detail", "face", "pose"}
        shape = rec["factors"]["shape"]
        assert 18 <= shape["age_years"] <= 70
        assert rig.metadata["generate"]["factors"] == rec["factors"]
        height = np.ptp(rig.template[:, 2])
        assert height == pytest.approx(rec["measures"]["height_m"], abs=1e-6)
        heights.append(height)
        if rec["factors"]["face"]["preset"] != "neutral":
            assert np.abs(motion.expression).max() > 0.05
    assert np.ptp(heights) > 0.02


def test_eight_adults_span_30_cm_on_the_mesh(generator):
    """The Anny rest meshes (height phenotype solved), not only the drawn targets, span >= 0.3 m in every batch."""
    for seed in range(8):
        strata = shape_strata(seed, 8)
        shapes = [sample_factor(generator, GenerateOptions(seed=seed), "shape", (seed, i), strata[i])
                  for i in range(8)]
        assert max(abs(s["height_m"] - s["target_height_m"]) for s in shapes) < 2e-3
        assert np.ptp([s["height_m"] for s in shapes]) >= 0.3, seed
        assert sorted(s["sex"] for s in shapes) == ["female"] * 4 + ["male"] * 4


def test_fixed_factor_and_reroll_change_one_factor_only(cli_batch, generator, tmp_path):
    fixed = [sample_human(generator, GenerateOptions(seed=5, fix=("shape",)), i, 3) for i in range(3)]
    assert fixed[0]["shape"] == fixed[1]["shape"] == fixed[2]["shape"]
    assert fixed[0]["face"] != fixed[1]["face"] or fixed[0]["pose"] != fixed[1]["pose"]
    record, _ = load_record(cli_batch / "humans.json:1")
    new = reroll(record, "pose", 99, tmp_path, generator=generator)
    for f in ("shape", "detail", "face"):
        assert new["factors"][f] == record["factors"][f]
    assert new["factors"]["pose"] != record["factors"]["pose"]
    np.testing.assert_array_equal(RigSpec.load(tmp_path / new["files"]["rig"]).template,
                                  RigSpec.load(cli_batch / record["files"]["rig"]).template)
    new = reroll(record, "shape", 99, tmp_path, generator=generator)
    assert new["factors"]["shape"] != record["factors"]["shape"] and new["factors"]["pose"] == record["factors"]["pose"]
    # A rebuilt record is the same human; an edited phenotype changes only the body.
    same = rebuild(record, tmp_path / "same", generator=generator)
    np.testing.assert_array_equal(RigSpec.load(tmp_path / "same" / same["files"]["rig"]).template,
                                  RigSpec.load(cli_batch / record["files"]["rig"]).template)
    edited = json.loads(json.dumps(record))
    edited["factors"]["shape"]["phenotype"]["weight"] = 1.0
    fat = rebuild(edited, tmp_path / "edited", generator=generator)
    fat_rig = RigSpec.load(tmp_path / "edited" / fat["files"]["rig"])
    assert fat_rig.metadata["phenotype"]["weight"] == pytest.approx(1.0)
    assert Motion.load(tmp_path / "edited" / fat["files"]["motion"]).rotvec.tobytes() == Motion.load(
        cli_batch / record["files"]["motion"]).rotvec.tobytes()


def test_detail_layers_barely_add_self_intersections(cli_batch, generator):
    record, _ = load_record(cli_batch / "human_000.json")
    layers = record["factors"]["detail"]["layers"]
    assert layers, "seed 3 human 0 wears detail layers"
    dressed = RigSpec.load(cli_batch / "human_000.npz")
    plain, _, _ = rest_body(generator, {**record["factors"], "detail": {"layers": []}})
    f_plain = self_intersection_fraction(plain.template, plain.faces)
    f_dressed = self_intersection_fraction(dressed.template, dressed.faces)
    print(f"self-intersecting faces: plain {f_plain:.4f}, with {[x['name'] for x in layers]} {f_dressed:.4f}")
    assert f_dressed < f_plain + 0.005
    assert np.abs(dressed.template - plain.template).max() > 0.004


def test_interpolation_morphs_from_a_to_b(cli_batch, generator, tmp_path):
    files = interpolate(cli_batch / "human_000.json", cli_batch / "humans.json:2", 12, tmp_path, generator=generator)
    rig, motion = RigSpec.load(files["rig"]), Motion.load(files["motion"])
    a, b = RigSpec.load(cli_batch / "human_000.npz"), RigSpec.load(cli_batch / "human_002.npz")
    assert rig.expr_names[-4:] == ("morph_1", "morph_2", "morph_3", "morph_4")
    assert motion.expression.shape == (12, len(rig.expr_names))
    zero = np.zeros(len(rig.shape_names))
    start, j0 = rig.rest_state(zero, np.r_[np.zeros(52), motion.expression[0, 52:]])
    end, j1 = rig.rest_state(zero, np.r_[np.zeros(52), motion.expression[-1, 52:]])
    np.testing.assert_allclose(start, a.template, atol=1e-5)
    np.testing.assert_allclose(end, b.template, atol=1e-4)
    np.testing.assert_allclose(j1, b.rest_joints, atol=1e-4)
    heights = [np.ptp(rig.rest_state(zero, np.r_[np.zeros(52), w])[0][:, 2]) for w in motion.expression[:, 52:]]
    steps = np.diff(heights)
    assert np.all(steps * np.sign(heights[-1] - heights[0]) >= -1e-6)  # height moves one way, smoothly
    face_a = json.loads((cli_batch / "human_000.json").read_text())["factors"]["face"]
    assert (np.abs(motion.expression[0, :52]).max() > 0) == (face_a["preset"] != "neutral")


def test_motion_files_drive_the_pose_factor(generator, tmp_path):
    from backend.demo.sample_motion import anny_walk_and_wave
    from backend.generate.motion_sources import MotionSourceError

    rig = generator.reference_rig
    rot = anny_walk_and_wave(rig.joint_names, 20)
    src = Motion(model="anny", fps=30.0, joint_names=rig.joint_names, rotvec=rot,
                 transl=np.c_[np.linspace(0, 1, 20), np.zeros((20, 2))], up_axis="Z").save(tmp_path / "walk.npz")
    generate_random(2, GenerateOptions(seed=1, frames=30, motion_files=(str(src),)), tmp_path / "o",
                    generator=generator)
    for i in range(2):
        rec, _ = load_record(tmp_path / "o" / f"human_{i:03d}.json")
        motion = Motion.load(tmp_path / "o" / rec["files"]["motion"])
        assert rec["factors"]["pose"]["source"] == "file" and rec["factors"]["pose"]["file"] == str(src)
        start = int(rec["factors"]["pose"]["start"] * 19)
        np.testing.assert_allclose(motion.rotvec, rot[(start + np.arange(30)) % 20])  # looped from its start
        assert np.allclose(motion.transl[0], 0)
    other = Motion(model="smplx", fps=30.0, joint_names=("pelvis",), rotvec=np.zeros((2, 1, 3)),
                   transl=np.zeros((2, 3))).save(tmp_path / "smplx.npz")
    with pytest.raises(MotionSourceError, match="smplx motion cannot drive anny"):
        generate_random(1, GenerateOptions(motion_files=(str(other),)), tmp_path / "bad", generator=generator)
    assert not (tmp_path / "bad").exists()


def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, generator):
    out = tmp_path / "out"
    r = _cli("random", "--age", "90:10", "--out", str(out))
    assert r.returncode == 2 and "impossible" in r.stderr and "Traceback" not in r.stderr and not out.exists()
    r = _cli("random", "--fix", "hair", "--out", str(out))
    assert r.returncode == 2 and "unknown factor name(s) ['hair']" in r.stderr and not out.exists()
    wrong = DetailLayer(offsets=np.zeros((100, 3), np.float32), model="anny", source="test").save(tmp_path / "w.npz")
    with pytest.raises(DetailError, match=r"w\.npz: made for anny \(100 vertices\), not anny \(13718 vertices\)"):
        generate_random(1, GenerateOptions(scan_layers=((str(wrong), 1.0),)), out, generator=generator)
    assert not out.exists()
    r = _cli("random", "--detail", str(tmp_path / "missing.npz"), "--out", str(out))
    assert r.returncode == 2 and "missing.npz: no such detail-layer file" in r.stderr and not out.exists()
    r = _cli("interpolate", str(tmp_path / "missing.json"), str(tmp_path / "b.json"), "--out", str(out))
    assert r.returncode == 2 and "no such human record" in r.stderr
