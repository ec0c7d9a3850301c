"""SSIM/PSNR against known values, and the VGG loss that loads only a local weights file."""

from __future__ import annotations

import pytest
import torch

from backend.avatar.losses import VGGPerceptual, psnr, ssim
from backend.avatar.unet import AvatarUNet, UNetConfig, fuse_for_inference


def test_psnr_and_ssim_known_values():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32) * 0.8
    assert torch.allclose(psnr(a, a + 0.1), torch.full((2,), 20.0), atol=1e-3)  # mse 0.01 -> 20 dB
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-5)
    noisy = (a + 0.2 * torch.randn_like(a)).clamp(0, 1)
    assert float(ssim(a, noisy).max()) < 0.8
    # a weight map restricts both metrics to its support
    w = torch.zeros(2, 1, 32, 32)
    w[..., :16] = 1
    b = a.clone()
    b[..., 16:] = 0
    assert float(psnr(a, b, w).min()) > 90
    # SSIM is invariant to nothing it should not be: a brightness shift lowers it
    assert float(ssim(a, a * 0.5).max()) < 0.95


def test_vgg_loss_reads_only_a_local_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="VGG-19 weights"):
        VGGPerceptual(tmp_path / "missing.pth")
    torch.save({"classifier.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a VGG-19"):
        VGGPerceptual(tmp_path / "bad.pth")
    # a torchvision-style state_dict (features.N.weight/bias) with random values
    shapes, cin, i = {}, 3, 0
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512):
        if v == "M":
            i += 1
            continue
        shapes[f"features.{i}.weight"] = torch.randn(v, cin, 3, 3) * 0.05
        shapes[f"features.{i}.bias"] = torch.zeros(v)
        cin, i = v, i + 2
    torch.save(shapes, tmp_path / "vgg19.pth")
    vgg = VGGPerceptual(tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 32, 32)
    assert float(vgg(x, x)) == 0.0
    assert float(vgg(x, x.flip(-1))) > 0.0


def test_unet_shapes_and_batchnorm_folding():
    net = AvatarUNet(UNetConfig(in_channels=5, base=8, depth=3)).eval()
    with torch.no_grad():
        for m in net.modules():  # non-trivial running statistics
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        x = torch.rand(2, 5, 48, 40)
        y = net(x)
        assert y.shape == (2, 4, 48, 40) and float(y.min()) >= 0 and float(y.max()) <= 1
        fused = fuse_for_inference(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
        assert torch.allclose(fused(x), y, atol=1e-5)


def test_person_ssim_scores_only_the_person_region():
    from backend.avatar.config import TrainConfig
    from backend.avatar.train import compute_loss

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 64, 64, generator=gen)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:44, 24:40] = 1
    valid = torch.ones_like(mask)
    pred = torch.cat([target.clone(), mask], 1)
    pred[:, :3, :, 56:] = torch.rand(1, 3, 64, 8, generator=gen)  # wrong only far from the person
    _, whole = compute_loss(pred, target, mask, valid, TrainConfig())
    _, person = compute_loss(pred, target, mask, valid, TrainConfig(person_ssim=True))
    assert person["ssim"] > 0.999 and whole["ssim"] < 0.95
    pred[:, :3, 30:34, 30:34] = 1 - target[:, :, 30:34, 30:34]  # now wrong inside the person too
    _, inside = compute_loss(pred, target, mask, valid, TrainConfig(person_ssim=True))
    assert inside["ssim"] < 0.99


def test_mse_term_weights_person_pixels_by_fg_weight():
    from backend.avatar.config import TrainConfig
    from backend.avatar.train import compute_loss

    target = torch.zeros(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16, :] = 1  # the top half is the person
    valid = torch.ones_like(mask)
    person_err = torch.cat([target.clone(), mask], 1)
    person_err[:, :3, :16] = 0.5
    bg_err = torch.cat([target.clone(), mask], 1)
    bg_err[:, :3, 16:] = 0.5
    cfg = TrainConfig(mse=1.0, fg_weight=8.0)
    _, on_person = compute_loss(person_err, target, mask, valid, cfg)
    _, on_bg = compute_loss(bg_err, target, mask, valid, cfg)
    assert on_person["mse"] == pytest.approx(9 * on_bg["mse"], rel=1e-5)
    assert on_bg["mse"] == pytest.approx(0.25 / 10, rel=1e-5)  # weights 9 (person) + 1 (background) per pixel pair
