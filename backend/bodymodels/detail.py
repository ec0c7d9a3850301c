"""Detail layers: per-vertex displacements of a body model's mesh, in each vertex's local frame.

The file is an ``.npz`` written atomically with
    offsets       (V, 3) float32  per model vertex, metres, in the vertex's rest frame (columns: tangent,
                                  bitangent, normal; see :func:`vertex_frames`)
    model         str             body model name, e.g. "anny"
    num_vertices  int             V, the model's vertex count
    source        str             what made it (a scan file, "procedural:clothing_torso", ...)
Because the offsets live in local frames, one layer fits every body of the same topology: shape it first, then
add ``to_world(offsets, frames)`` to the rest vertices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from blender_addon.core.npzio import write_npz_atomic


class DetailError(ValueError):
    """A detail layer is missing, malformed or for another body model / topology; the message says how to fix it."""


@dataclasses.dataclass(frozen=True, eq=False)
class DetailLayer:
    offsets: np.ndarray  # (V, 3) float32 metres, local (tangent, bitangent, normal)
    model: str
    source: str = ""

    @property
    def num_vertices(self) -> int:
        return int(self.offsets.shape[0])

    def check_fits(self, model: str, num_vertices: int, where: str = "detail layer") -> None:
        """Raise :class:`DetailError` unless this layer is for ``model`` with ``num_vertices`` vertices."""
        if self.model != model or self.num_vertices != num_vertices:
            raise DetailError(f"{where}: made for {self.model} with {self.num_vertices} vertices, but the body is "
                              f"{model} with {num_vertices}; use a layer fitted to a {model} body")

    def save(self, path: str | Path) -> Path:
        return write_npz_atomic(Path(path), {
            "offsets": np.asarray(self.offsets, np.float32), "model": np.asarray(self.model),
            "num_vertices": np.asarray(self.num_vertices, np.int64), "source": np.asarray(self.source)})

    @classmethod
    def load(cls, path: str | Path) -> DetailLayer:
        path = Path(path)
        if not path.is_file():
            raise DetailError(f"{path}: no such detail layer file; give an .npz written by the scan fit")
        try:
            with np.load(path, allow_pickle=False) as d:
                offsets, model = np.asarray(d["offsets"], np.float32), str(d["model"])
                count, source = int(d["num_vertices"]), str(d["source"]) if "source" in d.files else ""
        except Exception as exc:
            raise DetailError(f"{path}: not a detail layer ({exc}); it needs offsets, model and num_vertices") from exc
        if offsets.ndim != 2 or offsets.shape != (count, 3) or not np.all(np.isfinite(offsets)):
            raise DetailError(f"{path}: offsets have shape {offsets.shape} (or non-finite values), expected "
                              f"({count}, 3) finite metres")
        return cls(offsets=offsets, model=model, source=source)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a triangle mesh (V, 3) / (F, 3)."""
    v = np.asarray(verts, np.float64)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def vertex_frames(verts: np.ndarray, faces: np.ndarray, up_axis: str = "Z") -> np.ndarray:
    """(V, 3, 3) rest frames, columns (tangent, bitangent, normal): the tangent is the model's up axis projected
    onto the tangent plane (the model's x axis where the normal is nearly vertical), bitangent = normal x tangent."""
    n = vertex_normals(verts, faces)
    up = np.zeros(3)
    up["XYZ".index(up_axis)] = 1.0
    t = up - (n @ up)[:, None] * n
    weak = np.linalg.norm(t, axis=1) < 1e-3
    x = np.array([1.0, 0.0, 0.0])
    t[weak] = x - (n[weak] @ x)[:, None] * n[weak]
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return np.stack([t, np.cross(n, t), n], axis=2)


def to_world(offsets: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Local offsets (V, 3) -> model-space offsets (V, 3) metres through frames (V, 3, 3)."""
    return np.einsum("vab,vb->va", frames, np.asarray(offsets, np.float64))


def to_local(world: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Model-space offsets (V, 3) -> local offsets (V, 3) (the inverse of :func:`to_world`)."""
    return np.einsum("vba,vb->va", frames, np.asarray(world, np.float64))
