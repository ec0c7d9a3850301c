"""Detail layers (backend/bodymodels/detail.py): frames turn with the surface, files round-trip, bad files fail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.bodymodels.detail import DetailError, DetailLayer, apply_detail, vertex_frames


def _sphere(n: int = 12):
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    return np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)


def test_frames_are_orthonormal_with_outward_normals():
    v, f = _sphere()
    frames = vertex_frames(v, f)
    eye = np.einsum("vji,vjk->vik", frames, frames)
    assert np.allclose(eye, np.eye(3), atol=1e-9)
    assert np.all(np.linalg.det(frames) > 0.999)
    radial = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert np.all((frames[:, :, 2] * radial).sum(1) > 0.99)


def test_offsets_follow_a_rigid_motion_and_round_trip(tmp_path):
    v, f = _sphere()
    rng = np.random.default_rng(0)
    displaced = v + rng.normal(0, 0.01, v.shape)
    layer = DetailLayer.from_displaced(v, f, displaced, model="anny", source="unit test")
    assert np.allclose(apply_detail(v, f, layer.offsets), displaced, atol=1e-6)
    R = Rotation.from_rotvec([0.3, -1.2, 0.7]).as_matrix()
    moved = apply_detail(v @ R.T + 0.5, f, layer.offsets)
    assert np.allclose(moved, displaced @ R.T + 0.5, atol=1e-6)
    path = layer.save(tmp_path / "d.npz")
    back = DetailLayer.load(path)
    assert back.model == "anny" and back.source == "unit test" and back.num_vertices == len(v)
    assert np.array_equal(back.offsets, layer.offsets)
    with pytest.raises(DetailError, match="not smplx"):
        back.check_body("smplx", len(v))


def test_bad_detail_files_name_the_file(tmp_path):
    with pytest.raises(DetailError, match="no such"):
        DetailLayer.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(DetailError, match="other.npz: not a detail layer"):
        DetailLayer.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DetailError, match="junk.npz: unreadable"):
        DetailLayer.load(tmp_path / "junk.npz")
