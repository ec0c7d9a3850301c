"""LPIPS (VGG variant) from LOCAL weight files only: nothing is downloaded.

LPIPS compares unit-normalised VGG-16 features of two images at five depths (relu1_2 .. relu5_3), weighting the
squared differences per channel with learned non-negative linear layers, averaged over the image and summed over
depths. Two files are needed, both user-supplied:
- ``backbone``: a VGG-16 ``state_dict`` with torchvision's key names (``features.0.weight`` ...);
- ``linear``: the LPIPS linear layers (``lin0.model.1.weight`` (1, 64, 1, 1) ... ``lin4.model.1.weight``), the
  layout of the reference implementation's ``vgg.pth``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from backend.avatar.losses import load_vgg_features

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_CHANNELS = (64, 128, 256, 512, 512)


def _load(path: Path, what: str, fix: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {what} file; {fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable {what} file ({exc}); {fix}") from exc


class LPIPS(nn.Module):
    """``LPIPS(backbone, linear)(a, b)`` -> (N,) distances of RGB images a, b (N, 3, H, W) in [0, 1]."""

    def __init__(self, backbone: str | Path, linear: str | Path):
        super().__init__()
        fix = "pass local LPIPS files (--lpips-backbone VGG16.pth --lpips-linear vgg.pth) or leave LPIPS out."
        self.features = load_vgg_features(_VGG16, backbone, "VGG-16", fix)
        lin = _load(Path(linear), "LPIPS linear-layer", fix)
        weights = []
        for i, c in enumerate(_CHANNELS):
            w = lin.get(f"lin{i}.model.1.weight")
            if w is None or tuple(w.shape) != (1, c, 1, 1):
                raise ValueError(f"{linear}: lin{i}.model.1.weight must have shape (1, {c}, 1, 1); {fix}")
            weights.append(w.float())
        self.lin = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w in weights])
        self.requires_grad_(False)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = ((torch.cat([a, b]) * 2 - 1) - self.shift) / self.scale
        total = a.new_zeros(a.shape[0])
        tap = 0
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == _TAPS[tap]:
                fa, fb = x.chunk(2)
                fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                total = total + F.conv2d((fa - fb) ** 2, self.lin[tap]).mean((1, 2, 3))
                tap += 1
                if tap == len(_TAPS):
                    break
        return total
