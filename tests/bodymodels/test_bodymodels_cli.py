"""`python -m backend bodymodel ...` as real subprocesses, and RigSpec save/load round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from backend.bodymodels import load_body_model
from blender_addon.core.rigspec import _ARRAY_FIELDS, _NAME_FIELDS, RigSpec


def _run(repo_root, *args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "backend", "bodymodel", *args], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=300)


def _assert_same(a: RigSpec, b: RigSpec) -> None:
    for name in _ARRAY_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    for name in _NAME_FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    assert (a.model, a.up_axis, a.gender, a.metadata) == (b.model, b.up_axis, b.gender, b.metadata)


@pytest.mark.parametrize("name", ("smplx", "flame", "mano"))
def test_rigspec_round_trip_smpl_family(synthetic_model_dir, tmp_path, name):
    spec = load_body_model(name, model_dir=synthetic_model_dir).rig_spec()
    _assert_same(spec, RigSpec.load(spec.save(tmp_path / f"{name}.npz")))


def test_rigspec_round_trip_anny(anny_model, tmp_path):
    spec = anny_model.rig_spec()
    _assert_same(spec, RigSpec.load(spec.save(tmp_path / "anny.npz")))


def test_info_json_anny(repo_root):
    proc = _run(repo_root, "info", "--model", "anny", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["joints"], info["vertices"], info["faces"]) == (104, 13718, 27420)
    assert info["expression_blendshapes"] == 52 and info["up_axis"] == "Z" and info["uvs"] is True
    assert info["forward_shape"] == 6 and set(info["parameters"]) >= {"gender", "age", "weight", "height"}


def test_info_smplx_from_env_model_dir(repo_root, synthetic_model_dir):
    proc = _run(repo_root, "info", "--model", "smplx", "--betas", "16", "--json",
                env_extra={"SMPLPIX_MODEL_DIR": str(synthetic_model_dir)})
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert (info["joints"], info["vertices"], info["pose_correctives"]) == (55, 10475, 486)
    assert info["shape_blendshapes"] == 16 and info["expression_blendshapes"] == 10
    text = _run(repo_root, "info", "--model", "mano", "--model-dir", str(synthetic_model_dir))
    assert text.returncode == 0 and "778" in text.stdout


def test_export_rig_anny_with_phenotype(repo_root, tmp_path):
    out = tmp_path / "rig.npz"
    proc = _run(repo_root, "export-rig", "--model", "anny", "--phenotype", "gender=0.1", "weight=0.8", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    spec = RigSpec.load(out)
    assert spec.model == "anny" and spec.num_joints == 104
    defaults = dict(zip(spec.param_names, spec.param_defaults.tolist()))
    assert defaults["gender"] == pytest.approx(0.1) and defaults["weight"] == pytest.approx(0.8)


def test_export_rig_smplx_female_betas(repo_root, tmp_path, synthetic_model_dir):
    import shutil

    folder = tmp_path / "models" / "smplx"
    folder.mkdir(parents=True)
    shutil.copy(synthetic_model_dir / "SMPLX_NEUTRAL.npz", folder / "SMPLX_FEMALE.npz")
    out = tmp_path / "rig.npz"
    proc = _run(repo_root, "export-rig", "--model", "smplx", "--model-dir", str(tmp_path / "models"),
                "--gender", "female", "--betas", "20", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    spec = RigSpec.load(out)
    assert spec.gender == "female" and len(spec.shape_names) == 20 and spec.pose_dirs.shape == (486, 10475, 3)


@pytest.mark.parametrize("args, needle", [
    (("info", "--model", "smplx", "--model-dir", "{tmp}"), "SMPLX_NEUTRAL.npz"),
    (("export-rig", "--model", "anny", "--phenotype", "wingspan=2", "-o", "{tmp}/r.npz"), "wingspan"),
    (("export-rig", "--model", "anny", "--phenotype", "gender", "-o", "{tmp}/r.npz"), "NAME=VALUE"),
])
def test_bad_input_exits_2_with_a_clear_message(repo_root, tmp_path, args, needle):
    proc = _run(repo_root, *(a.format(tmp=tmp_path) for a in args), env_extra={"SMPLPIX_MODEL_DIR": ""})
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.npz").exists()


def test_warmup_caches_the_anny_rig(repo_root, tmp_path):
    env = {"SMPLPIX_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(repo_root, "warmup", env_extra=env)
    assert first.returncode == 0, first.stderr
    path = first.stdout.strip().splitlines()[-1]
    assert path.startswith(str(tmp_path / "cache")) and RigSpec.load(path).model == "anny"
    stamp = os.stat(path).st_mtime_ns
    again = _run(repo_root, "warmup", env_extra=env)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == path
    assert os.stat(path).st_mtime_ns == stamp  # served from the cache, not re-exported


def test_models_lists_found_and_missing_files(repo_root, synthetic_model_dir):
    proc = _run(repo_root, "models", "--model-dir", str(synthetic_model_dir), "--json",
                env_extra={"SMPLPIX_MODEL_DIR": ""})
    assert proc.returncode == 0, proc.stderr
    rows = {row["model"]: row for row in json.loads(proc.stdout)}
    assert rows["anny"]["embedded"] is True
    assert rows["smplx"]["files"]["neutral"] == str(synthetic_model_dir / "SMPLX_NEUTRAL.npz")
    assert rows["smplx"]["files"]["male"] is None and "smpl-x.is.tue.mpg.de" in rows["smplx"]["url"]
    assert rows["mano"]["files"]["left"].endswith("MANO_LEFT.pkl")
