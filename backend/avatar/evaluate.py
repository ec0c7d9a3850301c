"""Held-out evaluation of a trained avatar: PSNR/SSIM JSON report and a side-by-side PNG (input | prediction | truth)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar.dataset import load_dataset
from backend.avatar.train import batch_tensors, compose_input, evaluate_split, load_checkpoint, predict, select_device

log = logging.getLogger(__name__)


def side_by_side(inputs: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor, rows: int = 4) -> np.ndarray:
    """uint8 RGB grid (rows*S, 3*S, 3): colour-code input | prediction | ground truth, for evenly spaced frames.

    inputs (N, C, S, S), pred and truth (N, 3, S, S) floats in [0, 1]."""
    pick = np.linspace(0, inputs.shape[0] - 1, min(rows, inputs.shape[0])).round().astype(int)
    lines = [torch.cat([inputs[i, :3], pred[i], truth[i]], dim=2) for i in pick]
    grid = torch.cat(lines, dim=1).clamp(0, 1)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def evaluate(checkpoint: str | Path, dataset: str | Path, out_dir: str | Path, split: str = "test",
             device: str = "auto", lpips_files: tuple[str | Path, str | Path] | None = None) -> dict:
    """Evaluate on ``split``; writes ``out_dir/eval_<split>.json`` and ``out_dir/eval_<split>.png``; returns the
    report (metrics over the split, the copy-the-input baseline and the training history). ``lpips_files``:
    local (VGG-16 backbone, LPIPS linear layers) files; LPIPS is reported only with them (see ``lpips.py``)."""
    dev = select_device(device)
    model, state = load_checkpoint(checkpoint, dev)
    data = load_dataset(dataset)
    if data.inputs.shape[1] != model.config.in_channels:
        raise ValueError(f"{dataset}: {data.inputs.shape[1]} input channels but {checkpoint} expects "
                         f"{model.config.in_channels}; rebuild the dataset with the checkpoint's raster settings.")
    idx = data.indices(split)
    if len(idx) == 0:
        raise ValueError(f"{dataset}: no '{split}' frames.")
    metrics = evaluate_split(model, data, split)
    x, y, m, v = batch_tensors(data, idx, dev)
    out = predict(model, compose_input(x, torch.zeros(len(idx), 3, 1, 1, device=dev)))
    pred = out[:, :3] * out[:, 3:4]
    lpips = None
    if lpips_files is not None:
        from backend.avatar.lpips import LPIPS

        metric = LPIPS(*lpips_files).to(dev)
        truth = (y * m).to(dev)
        lpips = float(torch.cat([metric(pred[i:i + 8].to(dev), truth[i:i + 8])
                                 for i in range(0, len(idx), 8)]).mean())
    report = {"split": split, "step": state["step"], "checkpoint": str(checkpoint), "dataset": str(dataset),
              "size": int(data.inputs.shape[-1]), "metrics": metrics, "history": state.get("history", []),
              "lpips": lpips, "note": "PSNR/SSIM of the RGBA output over black vs the masked frame, valid region; "
                                     "fg_psnr: inside the person mask; baseline_psnr: the colour-code input copied"}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"eval_{split}.png"
    grid = side_by_side(x.cpu(), pred, (y * m).cpu(), rows=4)
    cv2.imwrite(str(png), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    path = out_dir / f"eval_{split}.json"
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(path)
    log.info("%s on %d %s frames: PSNR %.2f dB, SSIM %.4f (copy-input %.2f dB) -> %s", checkpoint, len(idx), split,
             metrics["psnr"], metrics["ssim"], metrics["baseline_psnr"], path)
    return report | {"json": str(path), "png": str(png)}
