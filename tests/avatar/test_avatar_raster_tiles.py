"""The tiled rasterizer (small faces tested a whole tile at a time) gives the same fragments as testing every
(face, pixel) pair one by one (``tiles=()``, the previous rasterizer's only path), on a posed Anny body."""

from __future__ import annotations

import torch

from backend.avatar.raster import project, rasterize, scale_intrinsics


def posed_anny_screen(model, size: int) -> torch.Tensor:
    """Screen vertices (2, V, 3) of Anny in two poses (arms and legs moved, turned), seen from 3 m at ``size`` px."""
    gen = torch.Generator().manual_seed(0)
    rot = torch.randn(2, model.num_joints, 3, generator=gen) * 0.25
    rot[:, 0] = torch.tensor([[0.0, 0.6, 0.0], [0.3, -1.2, 0.2]])
    with torch.no_grad():
        verts = model(rot, torch.zeros(2, 3), torch.zeros(1, model.num_shape)).vertices.float()
    f = 1.5 * size
    K = torch.tensor([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]]).expand(2, 3, 3)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(2, 3, 3)
    t = (torch.tensor([0.0, 0.0, 3.0]) - torch.einsum("ij,j->i", R[0], verts[0].mean(0))).expand(2, 3)
    return project(verts, scale_intrinsics(K, 1.0), R, t)[1]


def test_tiled_rasterizer_equals_the_pair_by_pair_one_on_a_posed_body(anny_model):
    screen = posed_anny_screen(anny_model, 320)
    ref = rasterize(screen, anny_model.faces, 320, 320, tiles=())
    assert 0.05 < float(ref.mask.float().mean()) < 0.6  # the body fills a good part of the image
    for tiles in ((2, 4, 8, 16), (4,), (3, 6)):
        fast = rasterize(screen, anny_model.faces, 320, 320, tiles=tiles)
        assert torch.equal(fast.face, ref.face), tiles
        assert torch.equal(fast.bary, ref.bary) and torch.equal(fast.depth, ref.depth), tiles
    # chunked (small max_pairs) gives the same z-buffer too
    small = rasterize(screen, anny_model.faces, 320, 320, max_pairs=5000)
    assert torch.equal(small.face, ref.face)


def test_a_face_larger_than_every_tile_still_rasterizes_through_the_pair_path():
    # one big triangle (60 px) and one small one (3 px) in front of it
    screen = torch.tensor([[[2.0, 2.0, 2.0], [62.0, 2.0, 2.0], [2.0, 62.0, 2.0],
                            [10.0, 10.0, 1.0], [13.0, 10.0, 1.0], [10.0, 13.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    ref = rasterize(screen, faces, 64, 64, tiles=())
    fast = rasterize(screen, faces, 64, 64)
    assert torch.equal(fast.face, ref.face)
    assert int((fast.face == 0).sum()) > 1500 and int((fast.face == 1).sum()) >= 6
