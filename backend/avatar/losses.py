"""Image losses and metrics: SSIM (Gaussian window, torch), PSNR, and an optional VGG perceptual loss whose weights
come only from a local file the user supplies (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian(window: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(window, device=device, dtype=dtype) - (window - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, window, window).contiguous()


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM (B, C, H, W) of images (B, C, H, W) in [0, 1] (Wang et al. 2004 constants, same padding)."""
    C = a.shape[1]
    w = _gaussian(window, sigma, C, a.device, a.dtype)
    pad = window // 2

    def blur(x):
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), w, groups=C)

    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a**2
    sbb = blur(b * b) - mu_b**2
    sab = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))


def ssim(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM per image (B,), optionally weighted by a (B, 1, H, W) map."""
    m = ssim_map(a, b).mean(1, keepdim=True)
    if weight is None:
        return m.flatten(1).mean(1)
    return (m * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1e-6)


def psnr(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB per image (B,) of [0, 1] images, optionally over a (B, 1, H, W) weight map."""
    err = (a - b) ** 2
    if weight is None:
        mse = err.flatten(1).mean(1)
    else:
        mse = (err * weight).flatten(1).sum(1) / (weight.flatten(1).sum(1) * a.shape[1]).clamp(min=1e-6)
    return -10 * torch.log10(mse.clamp(min=1e-10))


# VGG-19 convolution layout (torchvision's ``features`` indices), up to relu4_1.
_VGG_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512)
_VGG_TAPS = (1, 6, 11, 20)  # relu1_1, relu2_1, relu3_1, relu4_1


def load_vgg_features(layout: tuple, path: str | Path, name: str, fix: str) -> nn.Sequential:
    """A frozen torchvision-style VGG ``features`` stack (``layout``: conv widths, "M" for max-pooling) loaded from
    a LOCAL ``state_dict`` file with torchvision's key names (``features.0.weight`` ...). Errors name the file,
    the network (``name``, e.g. "VGG-19") and ``fix``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {name} weights file; {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable {name} file ({exc}); {fix}") from exc
    layers, cin = [], 3
    for v in layout:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
            cin = v
    features = nn.Sequential(*layers)
    state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    missing = [k for k in features.state_dict() if k not in state]
    if missing:
        raise ValueError(f"{path}: not a {name} state_dict (missing {missing[:3]}...); {fix}")
    features.load_state_dict({k: state[k] for k in features.state_dict()})
    return features.requires_grad_(False)


class VGGPerceptual(nn.Module):
    """L1 between VGG-19 feature maps (relu1_1 .. relu4_1) of prediction and target.

    ``weights``: a local torch file holding a VGG-19 ``state_dict`` with torchvision's key names
    (``features.0.weight`` ...), e.g. saved once from ``torchvision.models.vgg19(weights=...)``."""

    def __init__(self, weights: str | Path):
        super().__init__()
        self.features = load_vgg_features(_VGG_LAYERS, weights, "VGG-19", "pass a local state_dict file or drop the "
                                          "perceptual loss (--vgg-weight 0).")
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([pred, target]) - self.mean) / self.std
        loss = pred.new_zeros(())
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _VGG_TAPS:
                a, b = x.chunk(2)
                loss = loss + F.l1_loss(a, b)
        return loss
