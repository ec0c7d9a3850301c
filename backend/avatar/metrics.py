"""Person-region quality metrics of avatar renders: the figures a user judges a likeness by.

Whole-frame PSNR over a black background is mostly background and flatters any output; these metrics look only at
the person. All images are (B, C, H, W) floats in [0, 1]; masks and regions are (B, 1, H, W) in [0, 1].

    person_region    union of the true and predicted masks (> 0.5), dilated by ~2 % of the image side
    region_psnr/ssim PSNR (dB) / mean SSIM inside that region
    mask_iou         intersection over union of the predicted matte and the true mask (both > 0.5)
    sharpness_ratio  high-frequency (Laplacian) energy of the prediction over that of the truth, inside the person;
                     1 for the truth itself, far below 1 for a blur, above 1 for added noise
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from backend.avatar.losses import psnr, ssim

_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of (B, 1, H, W) masks by a square of side 2 radius + 1 (radius 0: unchanged)."""
    if radius <= 0:
        return mask
    return F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)


def person_region(true_mask: torch.Tensor, pred_alpha: torch.Tensor, valid: torch.Tensor | None = None,
                  dilate_frac: float = 0.02) -> torch.Tensor:
    """(B, 1, H, W) {0, 1}: the union of the true mask and the predicted matte (each > 0.5), dilated by
    ``dilate_frac`` of the image side (at least 1 px), inside ``valid`` (the part of the crop inside the source)."""
    union = ((true_mask > 0.5) | (pred_alpha > 0.5)).float()
    region = dilate(union, max(1, round(dilate_frac * true_mask.shape[-1])))
    return region if valid is None else region * (valid > 0.5).float()


def region_psnr(pred: torch.Tensor, truth: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image (B,) inside ``region``."""
    return psnr(pred, truth, region)


def region_ssim(pred: torch.Tensor, truth: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (B,) of the per-pixel SSIM map inside ``region``."""
    return ssim(pred, truth, region)


def mask_iou(pred_alpha: torch.Tensor, true_mask: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """IoU per image (B,) of the predicted matte and the true mask (both thresholded at 0.5); 1 when both empty."""
    p, t = pred_alpha > 0.5, true_mask > 0.5
    if valid is not None:
        p, t = p & (valid > 0.5), t & (valid > 0.5)
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def high_frequency(img: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) squared Laplacian response of the luminance of images (B, 3, H, W) (replicate padding)."""
    lum = img[:, :3].mean(1, keepdim=True)
    k = _LAPLACE.to(img.device, img.dtype).view(1, 1, 3, 3)
    return F.conv2d(F.pad(lum, (1, 1, 1, 1), mode="replicate"), k) ** 2


def sharpness_ratio(pred: torch.Tensor, truth: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per image (B,): high-frequency energy of ``pred`` over that of ``truth``, both summed inside ``region``
    eroded by 1 px (so the region's own edge does not count). NaN where the truth has no detail there."""
    inner = 1 - dilate(1 - region, 1)
    hp = (high_frequency(pred) * inner).flatten(1).sum(1)
    ht = (high_frequency(truth) * inner).flatten(1).sum(1)
    return torch.where(ht > 1e-8, hp / ht.clamp(min=1e-8), torch.full_like(ht, float("nan")))


def person_metrics(pred_rgb: torch.Tensor, pred_alpha: torch.Tensor, truth: torch.Tensor, true_mask: torch.Tensor,
                   valid: torch.Tensor, baseline: torch.Tensor, baseline_alpha: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image (B,) metrics of one batch, every image over black: the prediction ``pred_rgb * pred_alpha`` vs
    ``truth * true_mask``, and the copy-the-input ``baseline`` (B, 3, H, W) with its coverage ``baseline_alpha``,
    each inside its own person region. Keys: person_psnr, person_ssim, baseline_person_psnr, baseline_person_ssim,
    mask_iou, baseline_mask_iou, sharpness."""
    gt = truth * true_mask
    pred = pred_rgb * pred_alpha
    region = person_region(true_mask, pred_alpha, valid)
    base_region = person_region(true_mask, baseline_alpha, valid)
    return {"person_psnr": region_psnr(pred, gt, region), "person_ssim": region_ssim(pred, gt, region),
            "baseline_person_psnr": region_psnr(baseline, gt, base_region),
            "baseline_person_ssim": region_ssim(baseline, gt, base_region),
            "mask_iou": mask_iou(pred_alpha, true_mask, valid),
            "baseline_mask_iou": mask_iou(baseline_alpha, true_mask, valid),
            "sharpness": sharpness_ratio(pred, gt, region)}
