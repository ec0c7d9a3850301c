"""Held-out evaluation of a trained avatar: PSNR/SSIM JSON report and a side-by-side PNG (input | prediction | truth)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from backend.avatar.dataset import load_dataset
from backend.avatar.train import (batch_tensors, check_compatible, compose_input, evaluate_split, load_checkpoint,
                                  predict, select_device)

log = logging.getLogger(__name__)

NOTE = ("every image is the RGBA output over black vs the masked frame. person_*: inside the union of the true and "
        "predicted masks dilated by 2 % of the side (the headline); baseline_person_*: the colour-code input copied, "
        "inside its own region; gain_db = person_psnr - baseline_person_psnr; mask_iou: predicted matte vs person "
        "mask; sharpness: Laplacian energy of the prediction over the truth's inside the person (1 = as sharp, a "
        "blur far below 1); frames whose person mask is empty are left out of the person figures (person_frames "
        "counts the scored ones); frame_*: the whole valid crop, mostly background (not a likeness figure)")


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
    check_compatible(Path(checkpoint), state, dict(data.meta, size=int(data.inputs.shape[-1]),
                                                   in_channels=int(data.inputs.shape[1])),
                     f"evaluate it on its own run's dataset (not {dataset}) or retrain on this one")
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
              "lpips": lpips, "note": NOTE}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"eval_{split}.png"
    grid = side_by_side(x.cpu(), pred, (y * m).cpu(), rows=4)
    cv2.imwrite(str(png), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    path = out_dir / f"eval_{split}.json"
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(path)
    log.info("%s on %d %s frames, person region: PSNR %.2f dB, SSIM %.4f (copy-the-input %.2f dB, %.4f), mask IoU "
             "%.3f, sharpness %.2f -> %s", checkpoint, len(idx), split, metrics["person_psnr"],
             metrics["person_ssim"], metrics["baseline_person_psnr"], metrics["baseline_person_ssim"],
             metrics["mask_iou"], metrics["sharpness"], path)
    return report | {"json": str(path), "png": str(png)}
