"""The torch rasterizer against analytic scenes: coverage, depth, z-order, interpolation, anti-aliasing."""

from __future__ import annotations

import math

import pytest
import torch

from backend.avatar.raster import interpolate, rasterize, render_channels, scale_intrinsics

SQUARE_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def square(half: float, z: float, cx: float = 0.0, cy: float = 0.0) -> torch.Tensor:
    """Camera-space square (4, 3) parallel to the image plane."""
    return torch.tensor([[cx - half, cy - half, z], [cx + half, cy - half, z], [cx + half, cy + half, z],
                         [cx - half, cy + half, z]])


def to_screen(cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    uv = cam[..., :2] / cam[..., 2:] * torch.stack([K[0, 0], K[1, 1]]) + K[:2, 2]
    return torch.cat([uv, cam[..., 2:]], -1)


K64 = torch.tensor([[100.0, 0, 31.5], [0, 100.0, 31.5], [0, 0, 1]])


def test_square_covers_exactly_the_pixel_centres_inside_it():
    # half-size 0.5 at z = 2 -> 25 px half-size around 31.5: pixel centres 7..56 inclusive (50 x 50)
    frags = rasterize(to_screen(square(0.5, 2.0), K64)[None], SQUARE_FACES, 64, 64)
    mask = frags.mask[0]
    assert int(mask.sum()) == 2500
    ys, xs = torch.nonzero(mask, as_tuple=True)
    assert (int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())) == (7, 56, 7, 56)
    assert torch.allclose(frags.depth[0][mask], torch.full((2500,), 2.0), atol=1e-5)
    assert bool((frags.depth[0][~mask] == 0).all())


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_surface_wins_whatever_the_face_order(near_first):
    near, far = square(0.3, 1.5, cx=0.1), square(0.6, 3.0)
    verts = torch.cat([near, far] if near_first else [far, near])
    faces = torch.cat([SQUARE_FACES, SQUARE_FACES + 4])
    colour = torch.tensor([[1.0]] * 4 + [[0.0]] * 4) if near_first else torch.tensor([[0.0]] * 4 + [[1.0]] * 4)
    frags = rasterize(to_screen(verts, K64)[None], faces, 64, 64)
    img = interpolate(frags, faces, colour)[0, 0]
    centre_near = to_screen(torch.tensor([[0.1, 0.0, 1.5]]), K64)[0]
    x, y = int(round(float(centre_near[0]))), int(round(float(centre_near[1])))
    assert img[y, x] == 1.0 and frags.depth[0, y, x] == pytest.approx(1.5, abs=1e-4)
    corner = to_screen(torch.tensor([[-0.5, -0.5, 3.0]]), K64)[0]  # only the far square is there
    assert img[int(corner[1]) + 1, int(corner[0]) + 1] == 0.0
    assert frags.depth[0, int(corner[1]) + 1, int(corner[0]) + 1] == pytest.approx(3.0, abs=1e-4)


def test_interpolation_is_perspective_correct_on_a_tilted_plane():
    # plane z = 2 + 0.8 x, attribute = camera x; a pixel's ray hits the plane at a known x
    pts = torch.tensor([[-0.6, -0.6], [0.6, -0.6], [0.6, 0.6], [-0.6, 0.6]])
    cam = torch.cat([pts, (2 + 0.8 * pts[:, :1])], 1)
    frags = rasterize(to_screen(cam, K64)[None], SQUARE_FACES, 64, 64)
    img = interpolate(frags, SQUARE_FACES, cam[:, :1])[0, 0]
    ys, xs = torch.nonzero(frags.mask[0], as_tuple=True)
    dx = (xs.float() - 31.5) / 100  # ray direction x/z
    z = 2 / (1 - 0.8 * dx)
    expected = dx * z
    assert torch.allclose(img[ys, xs], expected, atol=1e-4)
    assert torch.allclose(frags.depth[0][ys, xs], z, atol=1e-4)


def test_antialiased_coverage_matches_area():
    # a square whose edges fall at fractional pixel positions: coverage sums to its area in pixels
    K = torch.tensor([[97.0, 0, 30.2], [0, 97.0, 33.7], [0, 0, 1]])
    cam = square(0.41, 2.3, cx=0.03, cy=-0.05)[None]
    attrs = torch.ones(4, 1)
    _, cov = render_channels(cam, K[None], SQUARE_FACES, 64, 64, attrs, supersample=8)
    side = 2 * 0.41 / 2.3 * 97.0
    assert float(cov.sum()) == pytest.approx(side * side, rel=0.01)
    left_edge = (30.2 + (0.03 - 0.41) / 2.3 * 97.0)  # continuous x of the left edge
    col = math.floor(left_edge + 0.5)  # the pixel whose footprint holds the edge
    frac = col + 0.5 - left_edge
    assert float(cov[0, 0, 33, col]) == pytest.approx(frac, abs=1 / 8 + 1e-3)
    assert float(cov.max()) == 1.0 and float(cov.min()) == 0.0


def test_chunked_binning_equals_one_pass_and_batches_are_independent():
    torch.manual_seed(0)
    verts = torch.rand(2, 60, 3) * torch.tensor([60.0, 60.0, 2.0]) + torch.tensor([2.0, 2.0, 1.0])
    faces = torch.randint(0, 60, (80, 3))
    a = rasterize(verts, faces, 64, 64)
    b = rasterize(verts, faces, 64, 64, max_pairs=97)
    single = rasterize(verts[1:], faces, 64, 64)
    assert torch.equal(a.face, b.face) and torch.allclose(a.bary, b.bary)
    assert torch.equal(a.face[1], single.face[0])


def test_behind_camera_faces_are_dropped_and_intrinsics_scale_with_pixel_centres():
    frags = rasterize(to_screen(square(0.5, -2.0), K64)[None], SQUARE_FACES, 64, 64)
    assert not bool(frags.mask.any())
    K2 = scale_intrinsics(K64, 2.0)
    p = torch.tensor([0.2, -0.1, 2.0])
    u1 = to_screen(p[None], K64)[0, 0]
    u2 = to_screen(p[None], K2)[0, 0]
    assert float(u2) == pytest.approx((float(u1) + 0.5) * 2 - 0.5)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    torch.manual_seed(1)
    verts = torch.rand(2, 60, 3) * torch.tensor([60.0, 60.0, 2.0]) + torch.tensor([2.0, 2.0, 1.0])
    faces = torch.randint(0, 60, (80, 3))
    a = rasterize(verts, faces, 64, 64)
    b = rasterize(verts.cuda(), faces.cuda(), 64, 64)
    assert torch.equal(a.face, b.face.cpu())
