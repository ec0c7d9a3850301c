"""Random humans of the SMPL family (SYNTHETIC SMPL-X files in the released format): betas N(0, I) truncated,
expression coefficients, detail layers by joint names, feet on the floor; and the job contracts."""

from __future__ import annotations

import numpy as np
import pytest

from blender_addon.core.jobs import ParamError
from blender_addon.core.jobs.generate import GenerateRandomParams, GenerateRerollParams


def test_contracts_check_ranges_and_factor_names():
    p = GenerateRandomParams.from_params({"count": 3, "seed": 2, "fix": ["shape"]})
    assert p.fix == ("shape",) and GenerateRandomParams.from_params(p.to_params()) == p
    with pytest.raises(ParamError, match="impossible"):
        GenerateRandomParams.from_params({"age_min": 90, "age_max": 10})
    with pytest.raises(ParamError, match=r"unknown factor name\(s\) \['hair'\]"):
        GenerateRandomParams.from_params({"fix": ["hair"]})
    with pytest.raises(ParamError, match="count"):
        GenerateRandomParams.from_params({"count": 0})
    with pytest.raises(ParamError, match="not one of"):
        GenerateRerollParams.from_params({"record": "h.json", "factor": "hair"})


def test_smplx_random_humans(synthetic_model_dir, tmp_path):
    pytest.importorskip("torch")
    from backend.generate.batch import generate_random, load_record
    from backend.generate.human import GenerateOptions, make_generator
    from backend.generate.interpolate import interpolate
    from blender_addon.core.motion import Motion
    from blender_addon.core.rigspec import RigSpec

    gen = make_generator("smplx", str(synthetic_model_dir))
    path = generate_random(2, GenerateOptions(model="smplx", seed=1, frames=4), tmp_path, generator=gen)
    for i in range(2):
        rec, _ = load_record(f"{path}:{i}")
        rig, motion = RigSpec.load(tmp_path / rec["files"]["rig"]), Motion.load(tmp_path / rec["files"]["motion"])
        betas = np.asarray(rec["factors"]["shape"]["betas"])
        assert betas.shape == (10,) and np.abs(betas).max() <= 2.0
        np.testing.assert_array_equal(motion.betas, betas)
        verts, _ = rig.rest_state(motion.betas)
        assert verts[:, 1].min() == pytest.approx(0.0, abs=1e-6)  # SMPL-X is Y up: feet on the floor
        assert rec["factors"]["pose"]["source"] == "pose_prior"
        assert len(rec["factors"]["face"]["expression"]) == 10
        assert np.abs(motion.expression[0, :10] - rec["factors"]["face"]["expression"]).max() < 1e-12
    files = interpolate(tmp_path / "human_000.json", tmp_path / "human_001.json", 5, tmp_path / "i", generator=gen)
    rig, motion = RigSpec.load(files["rig"]), Motion.load(files["motion"])
    b = RigSpec.load(tmp_path / "human_001.npz")
    end, _ = rig.rest_state(motion.betas, np.r_[np.zeros(len(rig.expr_names) - 4), motion.expression[-1, -4:]])
    b_rest, _ = b.rest_state(np.asarray(load_record(tmp_path / "human_001.json")[0]["factors"]["shape"]["betas"]))
    np.testing.assert_allclose(end, b_rest, atol=1e-4)
