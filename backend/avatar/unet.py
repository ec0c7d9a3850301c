"""The SMPLpix image-to-image network: a UNet from the rasterized body to the person's RGB and alpha, optionally
with a learnable neural texture on the body surface (deferred neural rendering) looked up through the colour code."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """in_channels: rasterized input channels; base: channels at full resolution, doubled per level up to
    max_channels; depth: number of 2x downsamplings (input sides must be divisible by 2**depth); texture: channels
    of the neural texture (0: none), texture_res: its finest plane side in texels."""

    in_channels: int = 8
    base: int = 32
    depth: int = 4
    max_channels: int = 256
    texture: int = 0
    texture_res: int = 128

    def channels(self) -> list[int]:
        return [min(self.base * 2**i, self.max_channels) for i in range(self.depth + 1)]


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class NeuralTexture(nn.Module):
    """Learnable features on the body surface, addressed by the colour code (the rest-pose position normalised to
    [0, 1]^3, so a point keeps its address when the body moves): three axis-aligned feature planes (xy, xz, yz),
    each a pyramid of ``levels`` resolutions (res, res/2, ...) so that sparse samples still train the coarse levels;
    the features of a pixel are the sum of the bilinear samples of all planes and levels (a tri-plane texture).

    forward(code (B, 3, H, W) in [0, 1], coverage (B, 1, H, W)) -> (B, channels, H, W) features times coverage."""

    PLANES = ((0, 1), (0, 2), (1, 2))

    def __init__(self, channels: int, res: int = 128, levels: int = 3):
        super().__init__()
        self.levels = nn.ParameterList(
            [nn.Parameter(0.01 * torch.randn(3, channels, max(4, res >> k), max(4, res >> k))) for k in range(levels)])

    def forward(self, code: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
        grid = code.clamp(0, 1).permute(0, 2, 3, 1) * 2 - 1  # (B, H, W, 3) in [-1, 1]
        out = None
        for planes in self.levels:
            for k, (a, b) in enumerate(self.PLANES):
                tex = planes[k:k + 1].expand(grid.shape[0], -1, -1, -1)
                f = F.grid_sample(tex, grid[..., [a, b]], mode="bilinear", padding_mode="border", align_corners=False)
                out = f if out is None else out + f
        return out * coverage


class AvatarUNet(nn.Module):
    """(B, C_in, H, W) in [0, 1] -> (B, 4, H, W): RGB in [0, 1] (sigmoid) and alpha in [0, 1] (sigmoid).

    Strided-conv downsampling, bilinear upsampling + conv (no transposed-conv checkerboards), skip concatenation,
    BatchNorm (folded into the convolutions by ONNX/TensorRT at inference). With ``config.texture`` > 0 a
    :class:`NeuralTexture` looked up by the input's first three channels (the colour code) and its last (coverage)
    is appended to the input."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        ch = config.channels()
        self.texture = NeuralTexture(config.texture, config.texture_res) if config.texture > 0 else None
        self.stem = _block(config.in_channels + config.texture, ch[0])
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
        if self.texture is not None:
            x = torch.cat([x, self.texture(x[:, :3], x[:, -1:])], 1)
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
