"""Scan detail layers in the shared format (``backend/bodymodels/detail.py``, the scan fit's writer) worn by
generated humans: a file with only the documented keys loads, and the generator applies it in the same per-vertex
frames the writer measured it in (tangent = edge to the next corner of the first incident face, normal, their
cross product), on the reference body exactly and on any shaped body as ``apply_detail`` does."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from backend.bodymodels.detail import DetailError, DetailLayer, apply_detail, vertex_frames  # noqa: E402
from backend.generate.batch import generate_random  # noqa: E402
from backend.generate.human import GenerateOptions, make_generator, rest_body, sample_human  # noqa: E402
from blender_addon.core.rigspec import RigSpec  # noqa: E402


@pytest.fixture(scope="module")
def generator():
    return make_generator("anny")


def _scan_like_displacement(verts: np.ndarray) -> np.ndarray:
    """(V, 3) metres: a smooth field with tangential and normal parts, up to ~1 cm, as a scan fit would leave."""
    x, y, z = verts.T
    return 0.01 * np.stack([np.sin(7 * z), np.cos(5 * x + 3 * z), 0.5 * np.sin(9 * y + 2 * z)], axis=1)


def _write_with_documented_keys(path, offsets: np.ndarray, model: str, source: str):
    """The format's table, written with numpy alone (no project writer): offsets, model, num_vertices, source."""
    np.savez(path, offsets=offsets.astype(np.float32), model=np.asarray(model, dtype=np.str_),
             num_vertices=np.asarray(len(offsets), np.int64), source=np.asarray(source, dtype=np.str_))
    return path


def test_scan_layer_file_is_worn_in_the_writers_frames(generator, tmp_path):
    ref = generator.reference_rig
    scan = ref.template + _scan_like_displacement(ref.template)
    written = DetailLayer.from_displaced(ref.template, ref.faces, scan, model="anny", source="scan.ply")
    raw = _write_with_documented_keys(tmp_path / "scan_detail.npz", written.offsets, "anny", "scan.ply")
    with np.load(raw, allow_pickle=False) as d:
        assert sorted(d.files) == ["model", "num_vertices", "offsets", "source"]
    layer = DetailLayer.load(raw)
    assert layer.model == "anny" and layer.num_vertices == ref.num_vertices and layer.source == "scan.ply"
    assert np.abs(layer.offsets[:, :2]).max() > 5e-3  # the tangential part matters: frames must agree
    scan_only = {"layers": [{"name": "scan", "file": str(raw), "scale": 1.0}]}

    # On the reference body the generator puts the vertices back on the scan (up to the floor lift).
    base = {**sample_human(generator, GenerateOptions(seed=1), 0), "detail": scan_only}
    base["shape"] = {**base["shape"], "phenotype": {n: 0.5 for n in base["shape"]["phenotype"]}}
    rig, _, measures = rest_body(generator, base)
    np.testing.assert_allclose(rig.template - [0, 0, measures["floor_lift_m"]], scan, atol=2e-6)

    # On a shaped body: the shaped rest mesh wearing the layer as the format's own apply_detail does.
    factors = {**sample_human(generator, GenerateOptions(seed=2), 0), "detail": scan_only}
    worn, _, measures = rest_body(generator, factors)
    shaped_rig, betas = generator.shaped_rig(factors["shape"])
    shaped, _ = shaped_rig.rest_state(betas)
    expected = apply_detail(shaped, shaped_rig.faces, layer.offsets.astype(np.float64))
    np.testing.assert_allclose(worn.template - [0, 0, measures["floor_lift_m"]], expected, atol=2e-6)
    frames = vertex_frames(shaped, shaped_rig.faces)
    assert np.allclose(np.einsum("vji,vjk->vik", frames, frames), np.eye(3), atol=1e-9)


def test_generate_random_with_a_scan_layer_file(generator, tmp_path):
    ref = generator.reference_rig
    offsets = DetailLayer.from_displaced(ref.template, ref.faces, ref.template + _scan_like_displacement(ref.template),
                                         model="anny", source="scan.ply").offsets
    path = DetailLayer(offsets=offsets, model="anny", source="scan.ply").save(tmp_path / "layer.npz")
    out = tmp_path / "humans"
    generate_random(2, GenerateOptions(seed=4, frames=2, scan_layers=((str(path), 0.5),)), out, generator=generator)
    rig = RigSpec.load(out / "human_001.npz")
    layers = rig.metadata["generate"]["factors"]["detail"]["layers"]
    assert {"name": "scan", "file": str(path), "scale": 0.5} in layers
    assert np.all(np.isfinite(rig.template)) and rig.template[:, 2].min() == pytest.approx(0.0, abs=1e-6)
    bad = _write_with_documented_keys(tmp_path / "smplx.npz", np.zeros((10475, 3)), "smplx", "scan.ply")
    with pytest.raises(DetailError, match=r"smplx\.npz: made for smplx \(10475 vertices\), not anny"):
        generate_random(1, GenerateOptions(scan_layers=((str(bad), 1.0),)), tmp_path / "no", generator=generator)
    assert not (tmp_path / "no").exists()
