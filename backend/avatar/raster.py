"""A pure-torch triangle rasterizer (CPU and CUDA, no OpenGL) for the SMPLpix input images.

Pixel convention (OpenCV): pixel ``(x, y)`` has its centre at the continuous image coordinate ``(x, y)`` and covers
``[x - 0.5, x + 0.5)``; a camera point ``X`` projects to ``u = K X / X_z``. Rasterization samples pixel centres.

Method: every face is binned to the integer pixel centres of its screen bounding box; small faces are tested
against a whole t x t tile of pixel centres at once (dense tensors), larger ones (face, pixel) pair by pair; for each
candidate the edge functions decide coverage, the perspective-correct depth is packed with the face index into one
int64 key (depth in the high bits) and a ``scatter_reduce(amin)`` keeps the nearest face per pixel (a z-buffer in one
vectorised pass). Barycentrics are then recomputed only for the winning face of each covered pixel.
Anti-aliasing is by supersampling: render at ``s`` times the size and box-filter; the coverage is the mask.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

_FACE_BITS = 32
_DEPTH_LEVELS = (1 << 30) - 1
_NO_HIT = torch.iinfo(torch.int64).max


@dataclasses.dataclass(frozen=True)
class Fragments:
    """Per-pixel rasterization result for a batch of B meshes at H x W samples.

    face: (B, H, W) int64 index into the mesh's faces, -1 where no face covers the pixel centre.
    bary: (B, H, W, 3) perspective-correct barycentric weights of the face's three vertices (0 where no face).
    depth: (B, H, W) camera-space z in metres of the visible surface (0 where no face).
    """

    face: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool: a face covers the pixel centre."""
        return self.face >= 0


def project(vertices: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points to camera space and pixels.

    vertices (B, V, 3) metres, world; K (B, 3, 3) pixels; R (B, 3, 3), t (B, 3) world -> camera (OpenCV axes).
    Returns (cam (B, V, 3) metres, screen (B, V, 3) = pixel x, pixel y, camera z).
    """
    cam = torch.einsum("bij,bvj->bvi", R, vertices) + t[:, None, :]
    z = cam[..., 2:3]
    safe_z = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    uv = torch.einsum("bij,bvj->bvi", K[:, :2, :2], cam[..., :2] / safe_z) + K[:, None, :2, 2]
    return cam, torch.cat([uv, z], dim=-1)


def scale_intrinsics(K: torch.Tensor, scale: float) -> torch.Tensor:
    """Intrinsics (..., 3, 3) for an image resampled by ``scale`` (pixel centres stay pixel centres)."""
    K = K.clone()
    K[..., 0, 0] *= scale
    K[..., 1, 1] *= scale
    K[..., 0, 1] *= scale
    K[..., 0, 2] = (K[..., 0, 2] + 0.5) * scale - 0.5
    K[..., 1, 2] = (K[..., 1, 2] + 0.5) * scale - 0.5
    return K


def _edge_weights(v0, v1, v2, px, py):
    """Screen-space barycentrics of points (px, py) in triangles (v0, v1, v2) given as (N, 2+) tensors."""
    x0, y0, x1, y1, x2, y2 = v0[:, 0], v0[:, 1], v1[:, 0], v1[:, 1], v2[:, 0], v2[:, 1]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    w0 = (x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)
    w1 = (x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)
    w2 = (x0 - px) * (y1 - py) - (x1 - px) * (y0 - py)
    inv = 1.0 / torch.where(area.abs() < 1e-12, torch.ones_like(area), area)
    return torch.stack([w0 * inv, w1 * inv, w2 * inv], dim=-1)


def _face_coefficients(tri: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """(F, 4, 3) affine coefficients of the screen barycentrics and of 1/z over each face, in pixel offsets from the
    face's bounding-box origin (x0, y0) so that the constants stay small (float32-exact enough at 4k px)."""
    rel = tri[..., :2] - torch.stack([x0, y0], -1).to(tri.dtype)[:, None]
    xs, ys, z = rel[..., 0], rel[..., 1], tri[..., 2]
    j, k = [1, 2, 0], [2, 0, 1]
    inv = (1.0 / area)[:, None]
    bary = torch.stack([(ys[:, j] - ys[:, k]) * inv, (xs[:, k] - xs[:, j]) * inv,
                        (xs[:, j] * ys[:, k] - xs[:, k] * ys[:, j]) * inv], dim=-1)  # (F, 3, 3)
    inv_z = (bary / z[..., None]).sum(dim=1, keepdim=True)
    return torch.cat([bary, inv_z], dim=1)


@dataclasses.dataclass(frozen=True)
class _Faces:
    """Screen triangles of B meshes flattened to B*F faces: tri (B*F, 3, 3) pixel x, pixel y, camera z; the
    pixel-centre bounding box x0, y0 (B*F,) and its size bw, bh (B*F,) (<= 0 when no centre is inside); the doubled
    signed area (B*F,); cand: indices of the faces worth rasterizing (in front of ``near``, finite, not degenerate)."""

    tri: torch.Tensor
    x0: torch.Tensor
    y0: torch.Tensor
    bw: torch.Tensor
    bh: torch.Tensor
    area: torch.Tensor
    cand: torch.Tensor


def _face_setup(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, near: float) -> _Faces:
    """Per-face screen triangles, pixel-centre bounding boxes and the faces worth rasterizing."""
    B, nf = screen.shape[0], faces.shape[0]
    tri = screen.float()[:, faces].reshape(B * nf, 3, 3)
    z = tri[..., 2]
    lo = tri[..., :2].amin(dim=1)
    hi = tri[..., :2].amax(dim=1)
    x0 = torch.ceil(lo[:, 0]).clamp(min=0).long()
    y0 = torch.ceil(lo[:, 1]).clamp(min=0).long()
    x1 = torch.floor(hi[:, 0]).clamp(max=width - 1).long()
    y1 = torch.floor(hi[:, 1]).clamp(max=height - 1).long()
    area = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
            - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1]))
    ok = (z.amin(dim=1) > near) & (x1 >= x0) & (y1 >= y0) & (area.abs() > 1e-12) & torch.isfinite(tri).all(dim=(1, 2))
    return _Faces(tri=tri, x0=x0, y0=y0, bw=x1 - x0 + 1, bh=y1 - y0 + 1, area=area,
                  cand=torch.nonzero(ok).squeeze(1))


def _tile_fragments(fc: _Faces, sel: torch.Tensor, coef: torch.Tensor, tile: int, max_pairs: int):
    """Covered (face, pixel) samples of the small faces ``sel`` (bounding box within ``tile`` x ``tile`` pixel
    centres), every face tested against its whole tile at once (dense (faces, tile^2) tensors, no per-pair
    indexing). coef (len(sel), 4, 3) from :func:`_face_coefficients`. Yields (face (N,), px (N,), py (N,), 1/z (N,))."""
    dev = coef.device
    k = torch.arange(tile * tile, device=dev)
    lx_i, ly_i = k % tile, k // tile
    lx, ly = lx_i.float(), ly_i.float()
    step = max(1, max_pairs // (tile * tile))
    for s in range(0, sel.numel(), step):
        f, c = sel[s:s + step], coef[s:s + step]
        vals = c[..., 0, None] * lx + c[..., 1, None] * ly + c[..., 2, None]  # (n, 4, tile^2)
        inside = ((vals[:, :3] >= 0).all(dim=1) & (lx_i < fc.bw[f, None]) & (ly_i < fc.bh[f, None]))
        fi, ki = torch.nonzero(inside, as_tuple=True)
        face = f[fi]
        yield face, fc.x0[face] + lx_i[ki], fc.y0[face] + ly_i[ki], vals[fi, 3, ki]


def _pair_fragments(fc: _Faces, sel: torch.Tensor, coef: torch.Tensor, max_pairs: int):
    """Covered (face, pixel) samples of the faces ``sel``, every pixel centre of each bounding box enumerated as
    one (face, pixel) pair, at most ``max_pairs`` pairs at a time. Yields like :func:`_tile_fragments`."""
    dev = coef.device
    bw = fc.bw[sel]
    counts = bw * fc.bh[sel]
    ends = torch.cumsum(counts, 0)
    start = 0
    bounds = torch.searchsorted(ends, torch.arange(max_pairs, int(ends[-1]) + max_pairs, max_pairs, device=dev),
                                right=True).tolist()
    for stop in bounds:
        stop = max(stop, start + 1)
        if start >= sel.numel():
            break
        cnt = counts[start:stop]
        pos = torch.repeat_interleave(torch.arange(start, stop, device=dev), cnt)
        offs = torch.cumsum(cnt, 0) - cnt
        k = torch.arange(pos.numel(), device=dev) - offs[pos - start]
        w = bw[pos]
        lx, ly = k % w, k // w
        c = coef[pos]  # (N, 4, 3): rows w0, w1, w2, 1/z; columns d/dx, d/dy, value at the bbox origin
        vals = c[..., 0] * lx[:, None] + c[..., 1] * ly[:, None] + c[..., 2]
        inside = (vals[:, :3] >= 0).all(dim=-1)
        face = sel[pos[inside]]
        yield face, fc.x0[face] + lx[inside], fc.y0[face] + ly[inside], vals[inside, 3]
        start = stop


def _resolve(zbuf: torch.Tensor, tri: torch.Tensor, nf: int, B: int, height: int, width: int) -> Fragments:
    """Fragments from the z-buffer of packed (depth, face) keys: the winning face of each pixel, its
    perspective-correct barycentrics at the pixel centre and its depth."""
    device = zbuf.device
    hit = zbuf != _NO_HIT
    gface = torch.where(hit, zbuf & ((1 << _FACE_BITS) - 1), torch.zeros_like(zbuf))
    face = torch.where(hit, gface % nf, torch.full_like(zbuf, -1))
    bary = torch.zeros(B * height * width, 3, device=device)
    depth = torch.zeros(B * height * width, device=device)
    pidx = torch.nonzero(hit).squeeze(1)
    if pidx.numel():
        t = tri[gface[pidx]]
        px = (pidx % width).float()
        py = ((pidx // width) % height).float()
        lam = _edge_weights(t[:, 0], t[:, 1], t[:, 2], px, py).clamp(min=0)
        pc = lam / t[..., 2]
        s = pc.sum(dim=-1, keepdim=True)
        bary[pidx] = pc / s
        depth[pidx] = 1.0 / s.squeeze(-1)
    return Fragments(face=face.view(B, height, width), bary=bary.view(B, height, width, 3),
                     depth=depth.view(B, height, width))


def rasterize(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, near: float = 1e-3,
              max_pairs: int = 1 << 22, tiles: tuple[int, ...] = (2, 4, 8, 16)) -> Fragments:
    """Rasterize B meshes sharing ``faces``.

    screen (B, V, 3): pixel x, pixel y, camera z (metres, > 0 in front); faces (F, 3) int64.
    Faces with a vertex closer than ``near`` are dropped (no clipping). Both windings are drawn.
    ``max_pairs`` bounds the (face, pixel) candidates processed at once (memory ~ 60 bytes each). Faces whose
    bounding box spans at most t x t pixel centres, t the first of ``tiles`` that fits (most faces of a body at
    preview sizes), are tested against the whole tile in dense tensors; larger faces pixel by pixel (``tiles=()``:
    every face that way). Both paths compute the same values, so the result does not depend on ``tiles``.
    """
    device = screen.device
    B = screen.shape[0]
    faces = faces.to(device=device, dtype=torch.int64)
    nf = faces.shape[0]
    fc = _face_setup(screen, faces, height, width, near)
    zbuf = torch.full((B * height * width,), _NO_HIT, dtype=torch.int64, device=device)
    cand = fc.cand
    if cand.numel():
        zvis = fc.tri[cand, :, 2]
        zmin, zmax = float(zvis.min()), float(zvis.max())
        zscale = _DEPTH_LEVELS / max(zmax - zmin, 1e-6)
        coef = _face_coefficients(fc.tri[cand], fc.x0[cand], fc.y0[cand], fc.area[cand])
        side = torch.maximum(fc.bw[cand], fc.bh[cand])
        streams, done = [], torch.zeros_like(side, dtype=torch.bool)
        for tile in sorted(tiles):
            fits = (side <= tile) & ~done
            if bool(fits.any()):
                streams.append(_tile_fragments(fc, cand[fits], coef[fits], tile, max_pairs))
            done |= fits
        if not bool(done.all()):
            streams.append(_pair_fragments(fc, cand[~done], coef[~done], max_pairs))
        for stream in streams:
            for f, px, py, inv_z in stream:
                q = ((1.0 / inv_z - zmin) * zscale).clamp(0, _DEPTH_LEVELS).long()
                pix = ((f // nf) * height + py) * width + px
                zbuf.scatter_reduce_(0, pix, (q << _FACE_BITS) | f, reduce="amin")
    return _resolve(zbuf, fc.tri, nf, B, height, width)


def interpolate(frags: Fragments, faces: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex attributes (B, V, C) or (V, C) at each pixel -> (B, C, H, W); zero off the mesh."""
    B, H, W = frags.face.shape
    if attributes.dim() == 2:
        attributes = attributes.unsqueeze(0).expand(B, -1, -1)
    attributes = attributes.to(frags.bary.device, torch.float32)
    C = attributes.shape[-1]
    faces = faces.to(frags.face.device, torch.int64)
    out = torch.zeros(B, H * W, C, device=frags.bary.device)
    fb = frags.face.view(B, -1)
    bb = frags.bary.view(B, -1, 3)
    for i in range(B):  # one gather per mesh keeps memory at (pixels, 3, C)
        sel = torch.nonzero(fb[i] >= 0).squeeze(1)
        if sel.numel() == 0:
            continue
        corner = attributes[i][faces[fb[i, sel]]]  # (N, 3, C)
        out[i, sel] = (corner * bb[i, sel].unsqueeze(-1)).sum(dim=1)
    return out.permute(0, 2, 1).reshape(B, C, H, W)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (B, V, 3) of meshes (B, V, 3)."""
    faces = faces.to(vertices.device, torch.int64)
    v = vertices[:, faces]  # (B, F, 3, 3)
    fn = torch.cross(v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0], dim=-1)
    n = torch.zeros_like(vertices)
    for c in range(3):
        n.index_add_(1, faces[:, c], fn)
    return F.normalize(n, dim=-1, eps=1e-12)


def render_channels(cam_vertices: torch.Tensor, K: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                    attributes: torch.Tensor, supersample: int = 2,
                    tiles: tuple[int, ...] = (2, 4, 8, 16)) -> tuple[torch.Tensor, torch.Tensor]:
    """Anti-aliased attribute image of camera-space meshes.

    cam_vertices (B, V, 3) metres in camera space; K (B, 3, 3) intrinsics for an image of ``width`` x ``height``;
    attributes (B, V, C) or (V, C). Returns (image (B, C, H, W) premultiplied by coverage, coverage (B, 1, H, W) in
    [0, 1]). ``supersample`` s renders s x s samples per pixel and averages them; ``tiles``: see :func:`rasterize`.
    """
    s = int(supersample)
    Ks = scale_intrinsics(K.float(), s)
    z = cam_vertices[..., 2:3]
    safe_z = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    uv = torch.einsum("bij,bvj->bvi", Ks[:, :2, :2], cam_vertices[..., :2] / safe_z) + Ks[:, None, :2, 2]
    frags = rasterize(torch.cat([uv, z], dim=-1), faces, height * s, width * s, tiles=tiles)
    img = interpolate(frags, faces, attributes)
    cov = frags.mask.float().unsqueeze(1)
    if s > 1:
        img = F.avg_pool2d(img, s)
        cov = F.avg_pool2d(cov, s)
    return img, cov
