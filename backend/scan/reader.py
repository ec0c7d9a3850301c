"""Reading scans: meshes (trimesh: .ply .obj .stl .glb .gltf .off) and point clouds (.npz, .xyz, a .ply of points).

Every reader returns a :class:`Scan` in the file's own coordinates and units; :func:`detect_units` then says how
many metres one file unit is (metres, centimetres or millimetres, judged by the size against the body model's).
Bad input raises :class:`ScanError` with one line naming the file and the fix.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".ply", ".obj", ".stl", ".glb", ".gltf", ".off")
POINT_SUFFIXES = (".npz", ".xyz")
SCAN_SUFFIXES = MESH_SUFFIXES + POINT_SUFFIXES
MAX_POINTS = 5_000_000
UNITS = (("m", 1.0), ("cm", 0.01), ("mm", 0.001))


class ScanError(ValueError):
    """A scan file is missing, unreadable, empty or not usable."""


@dataclasses.dataclass(frozen=True, eq=False)
class Scan:
    """A scan in its file's coordinates and units. vertices (N, 3); faces (F, 3) int or None (a point cloud);
    normals (N, 3) unit per vertex or None; notes: what was done to it (subsampled, ...)."""

    path: str
    vertices: np.ndarray
    faces: np.ndarray | None = None
    normals: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None and len(self.faces) > 0

    @property
    def num_points(self) -> int:
        return int(len(self.vertices))


def read_scan(path: str | Path, max_points: int = MAX_POINTS, seed: int = 0) -> Scan:
    """Read a scan file. More than ``max_points`` vertices: a point cloud is subsampled to ``max_points`` (a mesh
    keeps its faces only below the limit), with a warning. Raises :class:`ScanError`."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(f"{path}: no such scan file")
    suffix = path.suffix.lower()
    if suffix not in SCAN_SUFFIXES:
        raise ScanError(f"{path}: unsupported scan format {suffix or '(none)'}; use one of "
                        f"{' '.join(SCAN_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise ScanError(f"{path}: the file is empty")
    if suffix == ".npz":
        verts, faces, normals = _read_npz(path)
    elif suffix == ".xyz":
        verts, faces, normals = _read_xyz(path)
    else:
        verts, faces, normals = _read_trimesh(path)
    return _checked(path, verts, faces, normals, max_points, seed)


def detect_units(vertices: np.ndarray, expected_size: float) -> tuple[float, str]:
    """Metres per file unit and its name ("m", "cm", "mm"): the unit that makes the scan's largest extent closest
    (in log scale) to ``expected_size`` metres (the body model's rest height or hand length)."""
    extent = float(np.ptp(vertices, axis=0).max())
    best = min(UNITS, key=lambda u: abs(np.log(max(extent * u[1], 1e-12) / expected_size)))
    return best[1], best[0]


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as d:
            key = next((k for k in ("points", "vertices", "verts", "xyz", "pc") if k in d.files), None)
            if key is None:
                raise ScanError(f"{path}: no 'points' (or 'vertices') array in this .npz; save the points as "
                                "np.savez(path, points=array_of_shape_(N,3))")
            verts = np.asarray(d[key], np.float64)
            faces = np.asarray(d["faces"], np.int64) if "faces" in d.files else None
            normals = np.asarray(d["normals"], np.float64) if "normals" in d.files else None
    except ScanError:
        raise
    except Exception as exc:  # a corrupt zip or a pickled array
        raise ScanError(f"{path}: unreadable .npz ({exc}); save plain arrays with np.savez") from None
    return verts, faces, normals


def _read_xyz(path: Path):
    try:
        data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments=("#", "//"))
    except Exception as exc:
        raise ScanError(f"{path}: unreadable .xyz ({exc}); expected lines 'x y z [nx ny nz]'") from None
    if data.shape[1] < 3:
        raise ScanError(f"{path}: an .xyz needs at least 3 numbers per line, found {data.shape[1]}")
    return data[:, :3], None, data[:, 3:6] if data.shape[1] >= 6 else None


def _read_trimesh(path: Path):
    import trimesh

    try:
        loaded = trimesh.load(str(path), force=None, process=False)
    except Exception as exc:
        raise ScanError(f"{path}: unreadable {path.suffix} ({type(exc).__name__}: {exc}); re-export it from your "
                        "scanning software") from None
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if hasattr(g, "vertices")] if loaded.geometry else []
        meshes = [g for g in geoms if isinstance(g, trimesh.Trimesh)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes)
        elif geoms:
            loaded = geoms[0]
        else:
            raise ScanError(f"{path}: the file holds no mesh or points")
    verts = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), np.float64)
    faces = np.asarray(loaded.faces, np.int64) if isinstance(loaded, trimesh.Trimesh) else None
    normals = None
    if faces is not None and len(faces):
        normals = np.asarray(loaded.vertex_normals, np.float64)
    return verts, faces, normals


def _checked(path: Path, verts, faces, normals, max_points: int, seed: int) -> Scan:
    notes: list[str] = []
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ScanError(f"{path}: points have shape {verts.shape}, expected (N, 3)")
    ok = np.all(np.isfinite(verts), axis=1)
    if not ok.all():
        notes.append(f"dropped {int((~ok).sum())} points with NaN/infinite coordinates")
        if faces is not None:
            faces = faces[np.all(ok[faces], axis=1)] if len(faces) else faces
            remap = np.cumsum(ok) - 1
            faces = remap[faces]
        verts = verts[ok]
        normals = normals[ok] if normals is not None else None
    if len(verts) == 0:
        raise ScanError(f"{path}: the scan has no points")
    if len(verts) < 100:
        raise ScanError(f"{path}: only {len(verts)} points; a body fit needs at least 100")
    if float(np.ptp(verts, axis=0).max()) <= 0:
        raise ScanError(f"{path}: all points are at one place")
    if faces is not None and len(faces) and (faces.min() < 0 or faces.max() >= len(verts)):
        raise ScanError(f"{path}: faces index vertices that do not exist")
    if len(verts) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(verts), max_points, replace=False))
        notes.append(f"{len(verts):,} points is more than {max_points:,}: subsampled to {max_points:,} "
                     "(faces dropped)")
        verts, normals, faces = verts[keep], normals[keep] if normals is not None else None, None
    if normals is not None:
        n = np.linalg.norm(normals, axis=1, keepdims=True)
        normals = np.where(n > 1e-9, normals / np.maximum(n, 1e-12), 0.0)
    for note in notes:
        log.warning("%s: %s", path, note)
    return Scan(str(path), verts, faces if faces is not None and len(faces) else None, normals, tuple(notes))
