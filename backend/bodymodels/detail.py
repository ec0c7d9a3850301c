"""Detail layers: per-vertex displacements (clothing, hair, a scan's surface detail) a body can wear in any pose.

A detail layer is an ``.npz`` (written atomically) with:

| key          | shape   | meaning                                                                        |
|--------------|---------|--------------------------------------------------------------------------------|
| offsets      | (V, 3)  | float32 metres, per model vertex, in that vertex's local frame (columns below) |
| model        | ()      | str, the body model the vertex order belongs to ("anny", "smplx", ...)         |
| num_vertices | ()      | int, V                                                                         |
| source       | ()      | str, where the layer came from (a scan file, a generator seed)                 |

The local frame of a vertex (:func:`vertex_frames`) has the columns ``tangent``, ``bitangent``, ``normal``: the
normal is the area-weighted vertex normal; the tangent is the edge from the vertex to the next corner of its first
incident face, projected onto the tangent plane; ``bitangent = normal x tangent``. The frame is built from the
surface alone, so it turns with the surface: offsets taken at one pose or shape apply at any other
(``apply_detail(posed_vertices, faces, offsets)``), and to any body of the same model and vertex order.

    layer = DetailLayer.from_displaced(body_vertices, faces, scan_surface_points, model="anny", source="scan.ply")
    layer.save("detail.npz")
    worn = apply_detail(other_body_vertices, faces, DetailLayer.load("detail.npz").offsets)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from blender_addon.core.npzio import write_npz_atomic

DETAIL_KEYS = ("offsets", "model", "num_vertices", "source")


class DetailError(ValueError):
    """A detail-layer file is missing, malformed or does not fit the body."""


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. vertices (V, 3) metres, faces (F, 3) int -> (V, 3)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 * area
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], face_n)
    return _unit(n, fallback=np.array([0.0, 0.0, 1.0]))


def vertex_frames(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-vertex orthonormal frames (V, 3, 3) whose columns are tangent, bitangent, normal (see module doc).

    vertices (V, 3) metres; faces (F, 3) int. A vertex in no face gets the identity frame.
    """
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    normal = vertex_normals(v, f)
    # first incident face of each vertex and the next corner in that face
    corner_vertex = f.reshape(-1)
    used, first_corner = np.unique(corner_vertex, return_index=True)  # lowest face index first
    first = np.full(len(v), -1, np.int64)
    first[used] = first_corner
    has_face = first >= 0
    nxt = np.zeros(len(v), np.int64)
    corners = first[has_face]
    nxt[has_face] = f.reshape(-1)[(corners // 3) * 3 + (corners % 3 + 1) % 3]
    edge = np.where(has_face[:, None], v[nxt] - v, np.array([1.0, 0.0, 0.0]))
    tangent = edge - (edge * normal).sum(1, keepdims=True) * normal
    tangent = _unit(tangent, fallback=_any_perpendicular(normal))
    bitangent = np.cross(normal, tangent)
    frames = np.stack([tangent, bitangent, normal], axis=2)
    frames[~has_face] = np.eye(3)
    return frames


def to_local(vertices: np.ndarray, faces: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """World displacements (V, 3) metres at the body ``vertices`` -> offsets (V, 3) in the vertex frames."""
    frames = vertex_frames(vertices, faces)
    return np.einsum("vij,vi->vj", frames, np.asarray(displacement, np.float64)).astype(np.float32)


def apply_detail(vertices: np.ndarray, faces: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The body ``vertices`` (V, 3) wearing ``offsets`` (V, 3, local frames) -> displaced vertices (V, 3)."""
    v = np.asarray(vertices, np.float64)
    if offsets.shape != v.shape:
        raise DetailError(f"detail layer has {offsets.shape[0]} offsets; the body has {v.shape[0]} vertices")
    frames = vertex_frames(v, faces)
    return (v + np.einsum("vij,vj->vi", frames, np.asarray(offsets, np.float64))).astype(vertices.dtype)


@dataclasses.dataclass(frozen=True, eq=False)
class DetailLayer:
    offsets: np.ndarray  # (V, 3) float32 metres, local vertex frames
    model: str
    source: str = ""

    @property
    def num_vertices(self) -> int:
        return int(self.offsets.shape[0])

    @classmethod
    def from_displaced(cls, vertices: np.ndarray, faces: np.ndarray, displaced: np.ndarray, model: str,
                       source: str = "") -> "DetailLayer":
        """The layer that moves body ``vertices`` (V, 3) onto ``displaced`` (V, 3), both metres, same pose."""
        disp = np.asarray(displaced, np.float64) - np.asarray(vertices, np.float64)
        return cls(to_local(vertices, faces, disp), model=model, source=source)

    def validate(self, source: str = "detail layer") -> None:
        o = self.offsets
        if o.ndim != 2 or o.shape[1] != 3:
            raise DetailError(f"{source}: offsets have shape {o.shape}, expected (vertices, 3)")
        if not np.all(np.isfinite(o)):
            raise DetailError(f"{source}: offsets contain NaN or infinite values")
        if not self.model:
            raise DetailError(f"{source}: no body model name")

    def check_body(self, model: str, num_vertices: int, source: str = "detail layer") -> None:
        """Raise :class:`DetailError` unless this layer fits a body of ``model`` with ``num_vertices``."""
        if self.model != model or self.num_vertices != num_vertices:
            raise DetailError(f"{source}: made for {self.model} ({self.num_vertices} vertices), not {model} "
                              f"({num_vertices} vertices); fit the scan with --model {model}")

    def save(self, path: str | Path) -> Path:
        self.validate(str(path))
        return write_npz_atomic(path, {
            "offsets": np.asarray(self.offsets, np.float32),
            "model": np.asarray(self.model, dtype=np.str_),
            "num_vertices": np.asarray(self.num_vertices, np.int64),
            "source": np.asarray(self.source, dtype=np.str_),
        })

    @classmethod
    def load(cls, path: str | Path) -> "DetailLayer":
        path = Path(path)
        if not path.is_file():
            raise DetailError(f"{path}: no such detail-layer file")
        try:
            with np.load(path, allow_pickle=False) as d:
                missing = [k for k in DETAIL_KEYS if k not in d.files]
                if missing:
                    raise DetailError(f"{path}: not a detail layer (missing {', '.join(missing)})")
                layer = cls(np.asarray(d["offsets"], np.float32), model=str(d["model"]), source=str(d["source"]))
                count = int(d["num_vertices"])
        except DetailError:
            raise
        except Exception as exc:  # a corrupt zip, a pickled array
            raise DetailError(f"{path}: unreadable detail layer ({exc})") from None
        layer.validate(str(path))
        if count != layer.num_vertices:
            raise DetailError(f"{path}: num_vertices {count} but {layer.num_vertices} offsets")
        return layer


def _unit(x: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    ok = norm[..., 0] > 1e-12
    out = np.where(ok[..., None], x / np.maximum(norm, 1e-12), 0.0)
    out[~ok] = np.broadcast_to(fallback, x.shape)[~ok]
    return out


def _any_perpendicular(n: np.ndarray) -> np.ndarray:
    """A unit vector perpendicular to each row of ``n`` (V, 3)."""
    axis = np.where(np.abs(n[:, :1]) < 0.9, np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]))
    t = np.cross(n, axis)
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
