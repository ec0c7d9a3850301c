"""A rigged glTF binary (.glb) of a scan: the armature (one node per joint, posed at the fitted pose) and the scan
mesh at the rig's rest pose, skinned to it (``JOINTS_0``/``WEIGHTS_0``, inverse bind matrices from the rest
joints), so a viewer shows the scan where it was and an importer (Blender) gets armature + mesh with vertex groups.

Axes: glTF is Y-up; a Z-up scan (``up_axis="Z"``) is turned (x, y, z) -> (x, z, -y) so importers that turn glTF
back to Z-up (Blender) restore the scan's own coordinates. Written atomically.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from blender_addon.core.rotations import matrix_to_quat, rotvec_to_matrix

Z_UP_TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])


def write_rigged_glb(path: str | Path, joint_names: tuple[str, ...], parents: np.ndarray, rest_joints: np.ndarray,
                     rotvec: np.ndarray, transl: np.ndarray, vertices: np.ndarray, faces: np.ndarray | None,
                     weights: np.ndarray, up_axis: str = "Z", name: str = "Scan") -> Path:
    """Write the .glb. rest_joints (J, 3) metres; rotvec (J, 3) fitted local rotations; transl (3,) metres;
    vertices (N, 3) the scan at rest (metres); faces (F, 3) or None (points); weights (N, J), <= 4 per row."""
    C = Z_UP_TO_GLTF if up_axis == "Z" else np.eye(3)
    rest = rest_joints @ C.T
    R = C[None] @ rotvec_to_matrix(np.asarray(rotvec, np.float64)) @ C.T[None]
    verts = (vertices @ C.T).astype(np.float32)
    joints4, weights4 = _four_influences(weights)
    blob = _Blob()
    pos = blob.accessor(verts, 5126, "VEC3", target=34962, bounds=True)
    attrs = {"POSITION": pos, "JOINTS_0": blob.accessor(joints4, 5123, "VEC4", target=34962),
             "WEIGHTS_0": blob.accessor(weights4, 5126, "VEC4", target=34962)}
    prim: dict = {"attributes": attrs, "mode": 4 if faces is not None else 0}
    if faces is not None:
        prim["indices"] = blob.accessor(np.asarray(faces, np.uint32).reshape(-1), 5125, "SCALAR", target=34963)
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(rest), 1, 1))
    ibm[:, :3, 3] = -rest
    ibm_acc = blob.accessor(ibm.transpose(0, 2, 1).reshape(len(rest), 16), 5126, "MAT4")  # column-major
    nodes = _joint_nodes(joint_names, parents, rest, R, np.asarray(transl, np.float64) @ C.T)
    J = len(nodes)
    nodes.append({"name": name, "mesh": 0, "skin": 0})
    gltf = {
        "asset": {"version": "2.0", "generator": "SMPLpix Studio scan rig"},
        "scene": 0, "scenes": [{"nodes": [0, J]}], "nodes": nodes,
        "meshes": [{"name": name, "primitives": [prim]}],
        "skins": [{"name": f"{name}Armature", "joints": list(range(J)), "inverseBindMatrices": ibm_acc,
                   "skeleton": 0}],
        "accessors": blob.accessors, "bufferViews": blob.views, "buffers": [{"byteLength": len(blob.data)}],
    }
    return _write_glb(Path(path), gltf, bytes(blob.data))


def _joint_nodes(names, parents, rest, R, transl) -> list[dict]:
    nodes = []
    for j, name in enumerate(names):
        p = int(parents[j])
        t = rest[j] + transl if p < 0 else rest[j] - rest[p]
        q = matrix_to_quat(R[j])  # (w, x, y, z)
        nodes.append({"name": str(name), "translation": [float(x) for x in t],
                      "rotation": [float(q[1]), float(q[2]), float(q[3]), float(q[0])]})
    for j, p in enumerate(parents):
        if p >= 0:
            nodes[int(p)].setdefault("children", []).append(j)
    return nodes


def _four_influences(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, J) weights -> the 4 largest joint indices (N, 4) uint16 and their renormalised weights (N, 4)."""
    idx = np.argsort(-weights, axis=1)[:, :4]
    w = np.take_along_axis(weights, idx, 1).astype(np.float64)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    idx = np.where(w > 0, idx, 0)
    return idx.astype(np.uint16), w.astype(np.float32)


class _Blob:
    def __init__(self):
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def accessor(self, array: np.ndarray, component: int, kind: str, target: int | None = None,
                 bounds: bool = False) -> int:
        raw = np.ascontiguousarray(array).tobytes()
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target:
            view["target"] = target
        self.data.extend(raw)
        self.views.append(view)
        acc = {"bufferView": len(self.views) - 1, "componentType": component, "count": int(len(array)),
               "type": kind}
        if bounds:
            acc["min"] = [float(x) for x in array.min(0)]
            acc["max"] = [float(x) for x in array.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _write_glb(path: Path, gltf: dict, binary: bytes) -> Path:
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(struct.pack("<4sII", b"glTF", 2, total))
            fh.write(struct.pack("<I4s", len(text), b"JSON") + text)
            fh.write(struct.pack("<I4s", len(binary), b"BIN\0") + binary)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
