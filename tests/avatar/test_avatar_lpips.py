"""LPIPS from local files only: the metric's behaviour, its clear errors, and the evaluation report using it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from backend.avatar.lpips import _CHANNELS, LPIPS, _VGG16


def _write_weights(folder):
    """Stand-in local files with the real layouts (random VGG-16 features, positive linear layers)."""
    torch.manual_seed(0)
    state, cin, i = {}, 3, 0
    for v in _VGG16:
        if v == "M":
            i += 1
            continue
        state[f"features.{i}.weight"] = torch.randn(v, cin, 3, 3) * (2.0 / (9 * cin)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(v)
        cin, i = v, i + 2
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(_CHANNELS)}
    torch.save(state, folder / "vgg16.pth")
    torch.save(lin, folder / "lin.pth")
    return folder / "vgg16.pth", folder / "lin.pth"


def test_lpips_is_zero_for_equal_images_and_grows_with_distortion(tmp_path):
    metric = LPIPS(*_write_weights(tmp_path))
    torch.manual_seed(1)
    img = torch.rand(2, 3, 64, 64)
    assert torch.allclose(metric(img, img), torch.zeros(2), atol=1e-6)
    small = metric(img, (img + 0.02 * torch.randn_like(img)).clamp(0, 1))
    large = metric(img, (img + 0.2 * torch.randn_like(img)).clamp(0, 1))
    assert torch.all(small > 0) and torch.all(large > small)


def test_lpips_files_errors_name_the_file_and_the_fix(tmp_path):
    backbone, linear = _write_weights(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.pth.*--lpips-backbone"):
        LPIPS(tmp_path / "nope.pth", linear)
    torch.save({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, tmp_path / "bad_lin.pth")
    with pytest.raises(ValueError, match=r"bad_lin.pth: lin0.model.1.weight must have shape \(1, 64, 1, 1\)"):
        LPIPS(backbone, tmp_path / "bad_lin.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pth: not a readable VGG-16"):
        LPIPS(tmp_path / "junk.pth", linear)


def test_eval_reports_lpips_only_with_local_files(short_run, synthetic_dataset, tmp_path):
    backbone, linear = _write_weights(tmp_path)
    run = short_run.parent
    cmd = [sys.executable, "-m", "backend", "avatar", "eval", "--run", str(run), "--dataset", str(synthetic_dataset),
           "--checkpoint", str(short_run)]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    assert json.loads((run / "eval_test.json").read_text())["lpips"] is None
    subprocess.run(cmd + ["--lpips-backbone", str(backbone), "--lpips-linear", str(linear)], check=True, timeout=300,
                   capture_output=True)
    value = json.loads((run / "eval_test.json").read_text())["lpips"]
    assert isinstance(value, float) and value > 0
