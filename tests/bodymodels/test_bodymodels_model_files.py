"""Model-file resolution order and the clear ModelFileError for missing, truncated and wrong files."""

from __future__ import annotations

import dataclasses
import pickle
import shutil

import numpy as np
import pytest

from backend.bodymodels import load_body_model
from blender_addon.core import model_registry as registry
from blender_addon.core.model_registry import ENV_VAR, ModelFileError, resolve_model_file


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_resolution_order_explicit_then_env_then_preference(tmp_path):
    explicit, env_dir, pref = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (explicit, env_dir, pref):
        _touch(folder / "SMPLX_NEUTRAL.npz")
    env = {ENV_VAR: str(env_dir)}
    assert resolve_model_file("smplx", model_dir=explicit, preference_dir=pref, env=env).parent == explicit
    assert resolve_model_file("smplx", preference_dir=pref, env=env).parent == env_dir
    assert resolve_model_file("smplx", preference_dir=pref, env={}).parent == pref
    # A folder without the file falls through to the next one.
    assert resolve_model_file("smplx", model_dir=tmp_path / "empty", preference_dir=pref, env=env).parent == env_dir


def test_model_subfolder_and_alternative_names(tmp_path):
    path = _touch(tmp_path / "flame" / "generic_model.pkl")
    assert resolve_model_file("flame", model_dir=tmp_path, env={}) == path
    path = _touch(tmp_path / "smplx" / "SMPLX_FEMALE.pkl")
    assert resolve_model_file("smplx", "female", model_dir=tmp_path, env={}) == path
    direct = _touch(tmp_path / "custom_name.npz")
    assert resolve_model_file("smplx", model_dir=direct, env={}) == direct


def test_missing_file_message_names_file_places_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "envdir"))
    with pytest.raises(ModelFileError) as info:
        load_body_model("smplx", model_dir=tmp_path / "mine", gender="male")
    msg = str(info.value)
    assert "SMPLX_MALE.npz" in msg and "https://smpl-x.is.tue.mpg.de" in msg
    for place in (tmp_path / "mine" / "SMPLX_MALE.npz", tmp_path / "mine" / "smplx" / "SMPLX_MALE.pkl",
                  tmp_path / "envdir" / "SMPLX_MALE.npz"):
        assert str(place) in msg
    assert "--model-dir" in msg and ENV_VAR in msg


def test_no_folder_at_all(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ModelFileError, match="mano.is.tue.mpg.de"):
        load_body_model("mano")
    with pytest.raises(ModelFileError, match="unknown body model"):
        load_body_model("smplxx")


def test_truncated_npz_and_pkl(synthetic_model_dir, tmp_path):
    for name, fname in (("smplx", "SMPLX_NEUTRAL.npz"), ("mano", "MANO_RIGHT.pkl")):
        data = (synthetic_model_dir / fname).read_bytes()
        (tmp_path / fname).write_bytes(data[: len(data) // 3])
        with pytest.raises(ModelFileError) as info:
            load_body_model(name, model_dir=tmp_path)
        assert str(tmp_path / fname) in str(info.value) and "Download it again" in str(info.value)
    (tmp_path / "SMPL_NEUTRAL.pkl").write_text("not a pickle")
    with pytest.raises(ModelFileError, match="SMPL_NEUTRAL.pkl"):
        load_body_model("smpl", model_dir=tmp_path)


def test_wrong_shapes_and_missing_keys(synthetic_model_dir, tmp_path):
    with open(synthetic_model_dir / "MANO_RIGHT.pkl", "rb") as fh:
        data = pickle.load(fh)
    bad = dict(data, weights=data["weights"][:, :10])
    with open(tmp_path / "MANO_RIGHT.pkl", "wb") as fh:
        pickle.dump(bad, fh)
    with pytest.raises(ModelFileError, match=r"weights has shape \(778, 10\)"):
        load_body_model("mano", model_dir=tmp_path)
    with open(tmp_path / "MANO_RIGHT.pkl", "wb") as fh:
        pickle.dump({k: v for k, v in data.items() if k != "posedirs"}, fh)
    with pytest.raises(ModelFileError, match="missing posedirs"):
        load_body_model("mano", model_dir=tmp_path)
    # A SMPL+H file where SMPL-X is expected: right format, wrong model.
    shutil.copy(synthetic_model_dir / "SMPLH_NEUTRAL.pkl", tmp_path / "SMPLX_NEUTRAL.pkl")
    with pytest.raises(ModelFileError, match="6890 vertices and 52 joints, expected 10475 and 55"):
        load_body_model("smplx", model_dir=tmp_path)


def test_chumpy_pickles_load_without_chumpy(synthetic_model_dir, tmp_path):
    """Released SMPL/MANO .pkl files hold chumpy arrays; they must load without chumpy installed."""
    import sys
    import types

    with open(synthetic_model_dir / "MANO_RIGHT.pkl", "rb") as fh:
        data = pickle.load(fh)
    fake = types.ModuleType("chumpy.ch")

    class Ch:  # pickled as chumpy.ch.Ch with the array in its state, like the real files
        def __init__(self, x):
            self.x = x

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    fake.Ch = Ch
    parent = types.ModuleType("chumpy")
    parent.ch = fake
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = parent, fake
    try:
        data = dict(data, shapedirs=Ch(data["shapedirs"]), v_template=Ch(data["v_template"]))
        with open(tmp_path / "MANO_RIGHT.pkl", "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        del sys.modules["chumpy.ch"], sys.modules["chumpy"]
    model = load_body_model("mano", model_dir=tmp_path)
    np.testing.assert_allclose(model.rig_spec().template, data["v_template"].x, atol=1e-6)


def test_checksum_mismatch(tmp_path, monkeypatch):
    _touch(tmp_path / "MANO_RIGHT.pkl")
    spec = dataclasses.replace(registry.MODEL_FILES["mano"], sha256={"MANO_RIGHT.pkl": "0" * 64})
    monkeypatch.setitem(registry.MODEL_FILES, "mano", spec)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        resolve_model_file("mano", "right", model_dir=tmp_path, env={})
