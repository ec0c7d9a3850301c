"""Scan reading: formats, units, and bad input (one clear error naming the file)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.scan.reader import ScanError, detect_units, read_scan


def _cloud(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, 3)) * [0.2, 0.15, 0.8]


def test_formats_round_trip(tmp_path):
    import trimesh

    pts = _cloud()
    np.savez(tmp_path / "a.npz", points=pts)
    np.savetxt(tmp_path / "b.xyz", pts)
    box = trimesh.creation.box((0.4, 0.3, 1.7))
    box = box.subdivide().subdivide().subdivide()
    for suffix in ("ply", "obj", "stl", "off", "glb"):
        box.export(str(tmp_path / f"c.{suffix}"))
    assert np.allclose(read_scan(tmp_path / "a.npz").vertices, pts)
    assert np.allclose(read_scan(tmp_path / "b.xyz").vertices, pts)
    for suffix in ("ply", "obj", "stl", "off", "glb"):
        scan = read_scan(tmp_path / f"c.{suffix}")
        assert scan.is_mesh and scan.num_points >= 100, suffix
        assert np.allclose(np.ptp(scan.vertices, axis=0).max(), 1.7, atol=1e-5), suffix


def test_units_are_detected_by_size():
    body = _cloud() / np.ptp(_cloud(), axis=0).max() * 1.7
    assert detect_units(body, 1.7) == (1.0, "m")
    assert detect_units(body * 100, 1.7) == (0.01, "cm")
    assert detect_units(body * 1000, 1.7) == (0.001, "mm")
    assert detect_units(body / 1.7 * 0.19 * 1000, 0.19) == (0.001, "mm")  # a hand in mm


@pytest.mark.parametrize("name, content, match", [
    ("empty.ply", b"", "the file is empty"),
    ("broken.ply", b"ply\nformat nonsense\n", "unreadable .ply"),
    ("notes.txt", b"hello", "unsupported scan format .txt"),
    ("junk.npz", b"PK\x03\x04 not really", "unreadable .npz"),
    ("few.xyz", b"0 0 0\n1 1 1\n", "only 2 points"),
    ("cols.xyz", b"0 0\n1 1\n", "at least 3 numbers"),
])
def test_bad_files_name_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ScanError, match=match) as err:
        read_scan(path)
    assert name in str(err.value)


def test_pickled_and_keyless_npz_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", points=np.array([object()] * 200))
    with pytest.raises(ScanError, match="obj.npz: unreadable"):
        read_scan(tmp_path / "obj.npz")
    np.savez(tmp_path / "other.npz", colour=np.zeros((200, 3)))
    with pytest.raises(ScanError, match="no 'points'"):
        read_scan(tmp_path / "other.npz")
    with pytest.raises(ScanError, match="no such scan file"):
        read_scan(tmp_path / "missing.ply")


def test_too_many_points_are_subsampled_with_a_note(tmp_path, caplog):
    pts = _cloud(5000)
    pts[7] = np.nan
    np.savez(tmp_path / "big.npz", points=pts)
    scan = read_scan(tmp_path / "big.npz", max_points=1000)
    assert scan.num_points == 1000 and np.all(np.isfinite(scan.vertices))
    assert any("subsampled to 1,000" in n for n in scan.notes)
    assert any("NaN" in n for n in scan.notes)
    assert "big.npz" in caplog.text
