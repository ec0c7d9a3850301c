"""The network's input image: the posed body rasterized with its colour code (plus optional normals and depth)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from backend.avatar.raster import render_channels, vertex_normals


@dataclasses.dataclass(frozen=True)
class RasterSpec:
    """Which channels the rasterized input holds, in this order: colour code (3), camera-space normals (3, if
    ``normals``), relative depth (1, if ``depth``), coverage (1). ``supersample``: anti-aliasing samples per axis."""

    normals: bool = True
    depth: bool = True  # wins on held-out frames of the real jump video (README, Avatar fidelity)
    supersample: int = 2
    depth_range: float = 1.0  # metres mapped to [0, 1] around the body's median depth

    @property
    def channel_names(self) -> tuple[str, ...]:
        names = ["code_r", "code_g", "code_b"]
        if self.normals:
            names += ["normal_x", "normal_y", "normal_z"]
        if self.depth:
            names.append("depth")
        return tuple(names + ["coverage"])

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)


def raster_inputs(vertices: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor, faces: torch.Tensor,
                  code: torch.Tensor, size: int, spec: RasterSpec = RasterSpec(),
                  tiles: tuple[int, ...] = (2, 4, 8, 16)) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs (B, C, size, size) in [0, 1] and coverage (B, 1, size, size).

    vertices (B, V, 3) world metres; K (B, 3, 3) intrinsics of the size^2 crop; R (B, 3, 3), t (B, 3) world ->
    camera; code (V, 3) per-vertex colour code in [0, 1]. Colour-like channels are premultiplied by coverage.
    ``tiles``: the rasterizer's tile sizes (the result does not depend on them; ``()`` is the pair-by-pair path)."""
    dev = vertices.device
    cam = torch.einsum("bij,bvj->bvi", R.to(dev).float(), vertices.float()) + t.to(dev).float()[:, None]
    attrs = [code.to(dev).float()[None].expand(cam.shape[0], -1, -1)]
    if spec.normals:
        attrs.append(vertex_normals(cam, faces) * 0.5 + 0.5)
    if spec.depth:
        zmed = cam[..., 2].median(dim=1, keepdim=True).values
        attrs.append(((cam[..., 2:3] - zmed[..., None]) / spec.depth_range + 0.5).clamp(0, 1))
    img, cov = render_channels(cam, K.to(dev).float(), faces, size, size, torch.cat(attrs, -1), spec.supersample, tiles)
    return torch.cat([img, cov], 1).clamp(0, 1), cov


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[0, 1] float tensor -> uint8 numpy array of the same shape."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
