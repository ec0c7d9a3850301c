"""The SMPLpix image-to-image network: a UNet from the rasterized body to the person's RGB and alpha."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """in_channels: rasterized input channels; base: channels at full resolution, doubled per level up to
    max_channels; depth: number of 2x downsamplings (input sides must be divisible by 2**depth)."""

    in_channels: int = 8
    base: int = 32
    depth: int = 4
    max_channels: int = 256

    def channels(self) -> list[int]:
        return [min(self.base * 2**i, self.max_channels) for i in range(self.depth + 1)]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class AvatarUNet(nn.Module):
    """(B, C_in, H, W) in [0, 1] -> (B, 4, H, W): RGB in [0, 1] (sigmoid) and alpha in [0, 1] (sigmoid).

    Strided-conv downsampling, bilinear upsampling + conv (no transposed-conv checkerboards), skip concatenation,
    BatchNorm (folded into the convolutions by ONNX/TensorRT at inference)."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        ch = config.channels()
        self.stem = _block(config.in_channels, ch[0])
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for i in range(config.depth):
            self.down.append(nn.Sequential(nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1, bias=False),
                                           nn.BatchNorm2d(ch[i + 1]), nn.ReLU(inplace=True)))
            self.enc.append(_block(ch[i + 1], ch[i + 1]))
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in reversed(range(config.depth)):
            self.up.append(nn.Sequential(nn.Conv2d(ch[i + 1], ch[i], 1, bias=False), nn.BatchNorm2d(ch[i]),
                                         nn.ReLU(inplace=True)))
            self.dec.append(_block(2 * ch[i], ch[i]))
        self.head = nn.Conv2d(ch[0], 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(x)]
        h = skips[0]
        for down, enc in zip(self.down, self.enc):
            h = enc(down(h))
            skips.append(h)
        skips.pop()
        for up, dec in zip(self.up, self.dec):
            skip = skips.pop()
            h = F.interpolate(up(h), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = dec(torch.cat([h, skip], 1))
        return torch.sigmoid(self.head(h))


def fuse_for_inference(model: AvatarUNet) -> AvatarUNet:
    """Fold every BatchNorm into the preceding convolution (eval mode, in place); outputs are unchanged."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = nn.Identity()
    return model
