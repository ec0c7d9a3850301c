"""Person-region metrics: a blur is not sharp, a perfect background does not make a likeness."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from backend.avatar.metrics import mask_iou, person_metrics, person_region, region_psnr, sharpness_ratio
from backend.avatar.losses import psnr


def _person(size: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured ellipse 'person' (1, 3, S, S) on black and its mask (1, 1, S, S)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (size // 6, size // 3), 0, 0, 360, 1.0, -1)
    cells = rng.uniform(0.0, 1.0, (size // 3, size // 3, 3)).astype(np.float32)
    tex = cv2.resize(cells, (size, size), interpolation=cv2.INTER_NEAREST)  # 3 px patches, like cloth and hair
    img = torch.from_numpy(tex).permute(2, 0, 1)[None] * torch.from_numpy(mask)[None, None]
    return img, torch.from_numpy(mask)[None, None]


def test_sharpness_is_one_for_the_truth_and_far_below_for_a_blur():
    truth, mask = _person()
    region = person_region(mask, mask)
    assert float(sharpness_ratio(truth, truth, region)) == 1.0
    blurred = torch.from_numpy(cv2.GaussianBlur(truth[0].permute(1, 2, 0).numpy(), (0, 0), 2.0)).permute(2, 0, 1)
    ratio = float(sharpness_ratio(blurred[None] * mask, truth, region))
    assert ratio < 0.3, ratio
    noisy = (truth + 0.1 * torch.randn_like(truth) * mask).clamp(0, 1)
    assert float(sharpness_ratio(noisy, truth, region)) > 1.0


def test_a_perfect_background_does_not_inflate_the_person_region_psnr():
    truth, mask = _person()
    valid = torch.ones_like(mask)
    # predicts the black background perfectly and a flat grey person of the right shape
    grey = torch.full_like(truth, 0.55)
    m = person_metrics(grey, mask, truth, mask, valid, baseline=torch.zeros_like(truth), baseline_alpha=mask)
    frame = float(psnr(grey * mask, truth))
    assert frame > float(m["person_psnr"]) + 4.0  # the whole frame is mostly the (perfect) background
    assert float(m["person_psnr"]) < 17.0 and float(m["mask_iou"]) == 1.0
    # the exact truth scores far higher in the same region
    exact = person_metrics(truth, mask, truth, mask, valid, baseline=grey * mask, baseline_alpha=mask)
    assert float(exact["person_psnr"]) > 60 and float(exact["sharpness"]) == 1.0
    assert float(exact["baseline_person_psnr"]) == float(m["person_psnr"])


def test_region_is_the_dilated_union_and_iou_counts_misses():
    _, mask = _person()
    shifted = torch.roll(mask, 12, dims=-1)
    region = person_region(mask, shifted)
    assert bool((region >= ((mask > 0.5) | (shifted > 0.5)).float()).all())
    assert float(region.sum()) > float(((mask > 0.5) | (shifted > 0.5)).sum())
    iou = float(mask_iou(shifted, mask))
    assert 0.2 < iou < 0.9
    assert float(mask_iou(torch.zeros_like(mask), mask)) == 0.0
    # missing the person entirely (empty matte) is judged over the whole true mask, not over nothing
    truth, _ = _person()
    assert float(region_psnr(torch.zeros_like(truth), truth, person_region(mask, torch.zeros_like(mask)))) < 10
