"""Files a user opens never run code: one crafted file per vector, whose payload would write a marker file.

Each test first shows (where cheap) that the crafted file DOES run code under plain pickle, so the test could fail;
then loads it the way the product does and asserts the marker is absent and the error names the file.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse

from backend.bodymodels.model_files import read_extra_file, read_model_file
from blender_addon.core import safe_pickle
from blender_addon.core.model_registry import ModelFileError


class Payload:
    """Unpickling this calls ``exec`` (a builtin), which writes ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker.txt"


def _plain_pickle_runs_it(path, marker) -> None:
    with open(path, "rb") as fh:
        pickle.load(fh)  # what the unsafe loaders did
    assert marker.exists(), "the crafted file should run code under plain pickle"
    marker.unlink()


def _model_data(synthetic_model_dir, name="SMPL_NEUTRAL.pkl", model="smpl") -> dict:
    return read_model_file(synthetic_model_dir / name, model)


# ---- avatar checkpoints: render, resume, evaluate and ONNX export all read through read_checkpoint ------------------

def _trojaned_checkpoint(path, marker):
    import torch

    from backend.avatar.train import CHECKPOINT_VERSION
    from backend.avatar.unet import AvatarUNet, UNetConfig

    cfg = UNetConfig(in_channels=7, base=4, depth=2)
    state = {"version": CHECKPOINT_VERSION, "model": AvatarUNet(cfg).state_dict(), "optimizer": None, "step": 1,
             "train_config": {}, "unet_config": {"in_channels": 7, "base": 4, "depth": 2, "max_channels": 256},
             "data_meta": {"size": 32}, "history": [Payload(marker)]}
    torch.save(state, path)
    return path


def test_trojaned_avatar_checkpoint_does_not_run_on_load(tmp_path, marker):
    from backend.avatar.train import load_checkpoint

    ckpt = _trojaned_checkpoint(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(ValueError) as info:
        load_checkpoint(ckpt)
    assert not marker.exists()
    assert str(ckpt) in str(info.value) and "checkpoint" in str(info.value)


def test_trojaned_checkpoint_does_not_run_on_resume(tmp_path, marker, synthetic_dataset_small):
    from backend.avatar.config import TrainConfig
    from backend.avatar.train import train

    run = tmp_path / "run"
    run.mkdir()
    _trojaned_checkpoint(run / "checkpoint.pt", marker)
    with pytest.raises(ValueError, match="checkpoint.pt"):
        train(synthetic_dataset_small, run, TrainConfig(steps=2, batch=2, base=4, depth=2, vgg=0.0), device="cpu")
    assert not marker.exists()


def test_trojaned_checkpoint_does_not_run_in_onnx_export(tmp_path, marker):
    from backend.avatar.infer import export_onnx

    ckpt = _trojaned_checkpoint(tmp_path / "checkpoint.pt", marker)
    with pytest.raises(ValueError, match="checkpoint.pt"):
        export_onnx(ckpt, tmp_path / "avatar.onnx")
    assert not marker.exists() and not (tmp_path / "avatar.onnx").exists()


def test_a_clean_checkpoint_loads_weights_only(tmp_path):
    import torch

    from backend.avatar.train import load_checkpoint, save_checkpoint
    from backend.avatar.config import TrainConfig
    from backend.avatar.unet import AvatarUNet, UNetConfig

    model = AvatarUNet(UNetConfig(in_channels=7, base=4, depth=2))
    opt = torch.optim.AdamW(model.parameters())
    path = save_checkpoint(tmp_path / "c.pt", model, opt, 3, TrainConfig(), {"size": 32, "model": "anny"},
                           [{"step": 1, "loss": 0.5}])
    torch.load(path, weights_only=True)  # what the trainer writes is weights + plain data
    loaded, state = load_checkpoint(path)
    assert state["step"] == 3 and sum(p.numel() for p in loaded.parameters()) > 0


# ---- SMPL-family model files ---------------------------------------------------------------------------------------

def test_crafted_model_pkl_does_not_run(tmp_path, marker, synthetic_model_dir):
    data = _model_data(synthetic_model_dir)
    data["bs_style"] = Payload(marker)
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    _plain_pickle_runs_it(path, marker)
    with pytest.raises(ModelFileError) as info:
        read_model_file(path, "smpl")
    assert not marker.exists()
    assert str(path) in str(info.value) and "builtins.exec is not allowed" in str(info.value)


def test_crafted_model_npz_object_member_does_not_run(tmp_path, marker, synthetic_model_dir):
    data = read_model_file(synthetic_model_dir / "SMPLX_NEUTRAL.npz", "smplx")
    data["part2num"] = np.array([Payload(marker)], dtype=object)  # pickled inside the archive
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **data)
    with pytest.raises(ModelFileError) as info:
        read_model_file(path, "smplx")
    assert not marker.exists()
    assert str(path) in str(info.value) and "not allowed" in str(info.value)
    with pytest.raises(ValueError):  # plain numpy refuses it too; pickled members are read only by the safe path
        with np.load(path, allow_pickle=False) as d:
            d["part2num"]


def test_flame_static_embedding_pkl_does_not_run(tmp_path, marker):
    path = tmp_path / "flame_static_embedding.pkl"
    path.write_bytes(pickle.dumps({"lmk_face_idx": np.arange(51), "lmk_b_coords": Payload(marker)}, protocol=2))
    with pytest.raises(ModelFileError) as info:
        read_extra_file(path, "flame")
    assert not marker.exists() and str(path) in str(info.value)


def test_flame_landmark_embedding_npy_does_not_run(tmp_path, marker):
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, np.array({"static_lmk_faces_idx": Payload(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError) as info:
        read_extra_file(path, "flame")
    assert not marker.exists() and str(path) in str(info.value)


def test_smplify_result_pkl_does_not_run(tmp_path, marker):
    from blender_addon.core.motion import MotionError
    from blender_addon.core.readers.smplify import load_restricted_pickle

    path = tmp_path / "000.pkl"
    path.write_bytes(pickle.dumps({"global_orient": Payload(marker)}))
    with pytest.raises(MotionError, match="000.pkl"):
        load_restricted_pickle(path)
    assert not marker.exists()


# ---- what the safe loaders must still read -------------------------------------------------------------------------

def test_sparse_regressor_and_chumpy_free_pkl_still_load(tmp_path, synthetic_model_dir):
    """Released SMPL .pkl files hold J_regressor as a scipy CSC matrix."""
    data = _model_data(synthetic_model_dir)
    data["J_regressor"] = scipy.sparse.csc_matrix(data["J_regressor"])
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    back = read_model_file(path, "smpl")
    assert np.allclose(back["J_regressor"], data["J_regressor"].toarray())


def test_npz_object_members_are_read_safely(tmp_path, synthetic_model_dir):
    """SMPL-X .npz releases carry dict-valued object members (joint2num); they load as data."""
    data = read_model_file(synthetic_model_dir / "SMPLX_NEUTRAL.npz", "smplx")
    data["joint2num"] = np.array({"pelvis": 0, "head": 15}, dtype=object)
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    np.savez(path, **data)
    back = read_model_file(path, "smplx")
    assert back["joint2num"].item() == {"pelvis": 0, "head": 15}
    assert np.array_equal(back["v_template"], data["v_template"])


def test_unpickler_refuses_globals_by_name():
    for module, name in (("os", "system"), ("builtins", "eval"), ("numpy", "load"), ("subprocess", "Popen"),
                         ("numpy.testing._private.utils", "runstring")):
        blob = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"q\x00."
        with pytest.raises(safe_pickle.UnsafePickleError, match=f"{module}.{name}"):
            safe_pickle.unpickle(blob)
    arrays = {"a": np.arange(3.0), "b": [1, "x", (2.5, None)], "c": np.float32(2)}
    assert safe_pickle.unpickle(pickle.dumps(arrays))["b"] == [1, "x", (2.5, None)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.npy", b"not an array")
    with pytest.raises(ValueError):
        safe_pickle.load_npz(io.BytesIO(buf.getvalue()))
