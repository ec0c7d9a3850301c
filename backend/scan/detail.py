"""The scan's detail layer: per fitted-body vertex, the displacement to the scan surface (clothing, hair), in the
body's local vertex frames (:mod:`backend.bodymodels.detail`); vertices with no scan nearby (holes, missing parts)
get none."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from backend.bodymodels.detail import DetailLayer, vertex_normals
from backend.scan.closest import closest_on_mesh
from backend.scan.fit import ScanFit
from backend.scan.reader import Scan

MAX_OFFSET_M = 0.08


def scan_detail(fit: ScanFit, faces: np.ndarray, scan: Scan, source: str = "", max_offset: float = MAX_OFFSET_M
                ) -> DetailLayer:
    """Offsets (V, 3) moving the fitted body (metres, scan axes) onto the scan surface along the body's normals
    (the scan's closest point, projected on the normal), zero past ``max_offset`` metres."""
    body = fit.vertices
    target = scan.vertices * fit.scale
    if scan.is_mesh:
        closest, dist, _, _ = closest_on_mesh(target, scan.faces, body)
    else:
        dist, idx = cKDTree(target).query(body)
        closest = target[idx]
    n = vertex_normals(body, faces)
    along = ((closest - body) * n).sum(1)
    disp = np.where((dist < max_offset)[:, None], along[:, None] * n, 0.0)
    return DetailLayer.from_displaced(body, faces, body + disp, model=fit.model, source=source)
