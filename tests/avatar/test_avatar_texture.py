"""The neural texture (deferred neural rendering through the colour code): it trains, round-trips through the
checkpoint and ONNX with its config, and a checkpoint of another network is refused with one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.avatar.config import TrainConfig
from backend.avatar.train import compose_input, load_checkpoint, predict, train
from backend.avatar.unet import AvatarUNet, NeuralTexture, UNetConfig

SMALL = dict(batch=4, base=8, depth=3, eval_every=1000, ckpt_every=1000, log_every=1000)


def test_texture_lookup_follows_the_code_and_vanishes_off_the_body():
    tex = NeuralTexture(2, res=8, levels=2)
    code = torch.rand(1, 3, 5, 5)
    cov = torch.ones(1, 1, 5, 5)
    cov[..., 0, :] = 0
    f = tex(code, cov)
    assert f.shape == (1, 2, 5, 5)
    assert bool((f[..., 0, :] == 0).all()) and bool((f[..., 1:, :] != 0).any())
    # the same code gives the same features wherever it is in the image
    assert torch.allclose(tex(code.flip(-1), cov.flip(-1)), f.flip(-1))
    (tex(code, cov) ** 2).sum().backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in tex.parameters())


def test_textured_avatar_trains_and_round_trips_through_checkpoint_and_onnx(synthetic_dataset, tmp_path):
    from backend.avatar.dataset import load_dataset
    from backend.avatar.infer import export_onnx, onnx_session, run_onnx

    torch.manual_seed(0)
    init = AvatarUNet(UNetConfig(in_channels=8, base=8, depth=3, texture=4, texture_res=32)).texture
    ckpt = train(synthetic_dataset, tmp_path, TrainConfig(steps=6, texture=4, texture_res=32, **SMALL), device="cpu")
    model, state = load_checkpoint(ckpt)
    assert state["unet_config"]["texture"] == 4 and state["unet_config"]["texture_res"] == 32
    assert model.texture is not None and model.stem[0].in_channels == model.config.in_channels + 4
    # the texture learnt (same seed, same initialisation, different weights after 6 steps)
    assert not torch.equal(model.texture.levels[0].detach(), init.levels[0].detach())
    data = load_dataset(synthetic_dataset)
    x = compose_input(data.inputs[:3].float() / 255, torch.zeros(3, 3, 1, 1))
    out = predict(model, x)
    again, _ = load_checkpoint(ckpt)
    assert torch.equal(predict(again, x), out)
    onnx = export_onnx(ckpt, tmp_path / "avatar.onnx")
    got = run_onnx(onnx_session(onnx, providers=["CPUExecutionProvider"]), x.numpy())
    np.testing.assert_allclose(got, out.numpy(), atol=1e-3)


def test_resuming_into_another_network_is_one_clear_error(synthetic_dataset, tmp_path):
    train(synthetic_dataset, tmp_path, TrainConfig(steps=1, **SMALL), device="cpu")
    with pytest.raises(ValueError, match=r"checkpoint\.pt: avatar checkpoint has another network \(texture 0 "
                                         r"\(asked 4\)\).*--fresh"):
        train(synthetic_dataset, tmp_path, TrainConfig(steps=2, texture=4, **SMALL), device="cpu")
