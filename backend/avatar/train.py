"""Training the avatar UNet on a dataset folder, with resumable checkpoints, progress and cancel."""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from backend.avatar.dataset import AvatarData, load_dataset
from backend.avatar.losses import VGGPerceptual, psnr, ssim, ssim_map
from backend.avatar.metrics import person_region
from backend.avatar.config import TrainConfig
from backend.avatar.unet import AvatarUNet, UNetConfig

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def save_checkpoint(path: Path, model, optimizer, step: int, config: TrainConfig, data_meta: dict,
                    history: list) -> Path:
    """Atomically write model + optimiser + step + configs to ``path``."""
    state = {"version": CHECKPOINT_VERSION, "model": model.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer is not None else None, "step": step,
             "train_config": dataclasses.asdict(config), "unet_config": dataclasses.asdict(model.config),
             "data_meta": data_meta, "history": history}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, device="cpu") -> dict:
    """The raw checkpoint dict, loaded with ``weights_only=True`` (tensors and plain data only: a crafted file cannot
    run code); a file that needs anything else raises ValueError naming it."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError, TypeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if "weights only load failed" in reason.lower():  # torch's own text would advise the unsafe load
            reason = "it holds objects other than tensors and plain data"
        raise ValueError(f"{path}: not a readable avatar checkpoint ({reason}); it holds more than weights "
                         "and plain data, or it is damaged. Use a checkpoint written by `python -m backend avatar "
                         "train` (or Train Avatar) from a source you trust.") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not an SMPLpix avatar checkpoint (it holds a {type(state).__name__}).")
    return state


def load_checkpoint(path: str | Path, device="cpu") -> tuple[AvatarUNet, dict]:
    """The trained network (eval mode) and the raw checkpoint dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no avatar checkpoint; train one with `python -m backend avatar train`.")
    state = read_checkpoint(path, device)
    if "unet_config" not in state:
        raise ValueError(f"{path}: not an avatar checkpoint; use the checkpoint.pt that `avatar train` wrote.")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: avatar checkpoint version {state.get('version')}, expected {CHECKPOINT_VERSION}.")
    model = AvatarUNet(UNetConfig(**state["unet_config"])).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), state


def check_compatible(path: Path, state: dict, data_meta: dict, what: str) -> None:
    """Refuse a checkpoint ``state`` made for another body model, resolution or input layout than ``data_meta``
    (the dataset's), with one line naming the file and the fix (``what``: e.g. "train with --fresh")."""
    have = state.get("data_meta", {})
    subjects = have.get("subject", "body"), data_meta.get("subject", "body")  # face avatars: face_dataset.py
    if subjects[0] != subjects[1]:
        raise ValueError(f"{path}: a {subjects[0]} avatar checkpoint, but the data is a {subjects[1]} dataset; {what}.")
    for key, label in (("model", "body model"), ("size", "resolution"), ("in_channels", "input channels")):
        a, b = have.get(key), data_meta.get(key)
        if a is not None and b is not None and a != b:
            raise ValueError(f"{path}: avatar checkpoint for {label} {a!r}, but the data is {b!r}; {what}.")


def make_optimizer(model: AvatarUNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the network, the neural texture (if any) in its own group at ``texture_lr`` times the rate."""
    tex = [p for n, p in model.named_parameters() if n.startswith("texture.")]
    net = [p for n, p in model.named_parameters() if not n.startswith("texture.")]
    groups = [{"params": net, "lr": cfg.lr, "lr_scale": 1.0}]
    if tex:
        groups.append({"params": tex, "lr": cfg.lr * cfg.texture_lr, "lr_scale": cfg.texture_lr})
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=1e-4)


def check_same_network(path: Path, state: dict, config: UNetConfig) -> None:
    """Refuse to resume a checkpoint whose network (width, depth, neural texture) differs from ``config``."""
    have = state.get("unet_config", {})
    diff = [f"{k} {have.get(k)!r} (asked {v!r})" for k, v in dataclasses.asdict(config).items()
            if have.get(k, v) != v]
    if diff:
        raise ValueError(f"{path}: avatar checkpoint has another network ({', '.join(diff)}); train into a new "
                         "--out folder, pass --fresh to start over, or give the checkpoint's settings.")


def compose_input(x: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Put the background colour bg (B, 3, 1, 1) behind the colour-code channels of inputs x (B, C, H, W)."""
    cov = x[:, -1:]
    return torch.cat([x[:, :3] + bg * (1 - cov), x[:, 3:]], 1)


def batch_tensors(data: AvatarData, idx: np.ndarray, device) -> tuple[torch.Tensor, ...]:
    """(inputs (B, C, S, S), frames (B, 3, S, S), person mask (B, 1, S, S), valid (B, 1, S, S)) floats in [0, 1]."""
    sel = torch.as_tensor(idx, dtype=torch.long)
    x = data.inputs[sel].to(device).float() / 255
    y = data.frames[sel].to(device).float() / 255
    m = data.masks[sel].to(device).float() / 255
    return x, y, m[:, :1], m[:, 1:2]


def augment(x, y, mask, valid, cfg: TrainConfig, gen: torch.Generator):
    """Random zoom/shift of input and target together, then a random background behind both."""
    B = x.shape[0]
    dev = x.device
    if cfg.shift > 0 or cfg.scale > 0:
        r = torch.rand(B, 3, generator=gen).to(dev) * 2 - 1
        s = 1 + cfg.scale * r[:, 0]
        theta = torch.zeros(B, 2, 3, device=dev)
        theta[:, 0, 0] = s
        theta[:, 1, 1] = s
        theta[:, :, 2] = cfg.shift * 2 * r[:, 1:]
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        both = torch.cat([x, y, mask, valid], 1)
        both = F.grid_sample(both, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        C = x.shape[1]
        x, y, mask, valid = both[:, :C], both[:, C:C + 3], both[:, C + 3:C + 4], both[:, C + 4:C + 5]
    bg = torch.rand(B, 3, 1, 1, generator=gen).to(dev)
    bg = bg * (torch.rand(B, 1, 1, 1, generator=gen).to(dev) < cfg.bg_random)
    target = y * mask + bg * (1 - mask)
    return compose_input(x, bg), target, mask, valid


def compute_loss(pred, target, mask, valid, cfg: TrainConfig, vgg=None) -> tuple[torch.Tensor, dict]:
    rgb, alpha = pred[:, :3].float(), pred[:, 3:4].float()
    w = valid * (1 + cfg.fg_weight * mask)
    l1 = ((rgb - target).abs().mean(1, keepdim=True) * w).sum() / w.sum().clamp(min=1)
    loss = cfg.l1 * l1
    terms = {"l1": float(l1.detach())}
    if cfg.mse > 0:
        mse = (((rgb - target) ** 2).mean(1, keepdim=True) * w).sum() / w.sum().clamp(min=1)
        loss = loss + cfg.mse * mse
        terms["mse"] = float(mse.detach())
    if cfg.ssim > 0:
        region = valid * person_region(mask, torch.zeros_like(mask)) if cfg.person_ssim else valid
        s = (ssim_map(rgb, target).mean(1, keepdim=True) * region).sum() / region.sum().clamp(min=1)
        loss = loss + cfg.ssim * (1 - s)
        terms["ssim"] = float(s.detach())
    if cfg.mask > 0:
        bce = (F.binary_cross_entropy(alpha.clamp(1e-4, 1 - 1e-4), mask, reduction="none") * valid).sum()
        bce = bce / valid.sum().clamp(min=1)
        loss = loss + cfg.mask * bce
        terms["mask"] = float(bce.detach())
    if vgg is not None and cfg.vgg > 0:
        p = vgg(rgb * valid, target * valid)
        loss = loss + cfg.vgg * p
        terms["vgg"] = float(p.detach())
    return loss, terms


@torch.no_grad()
def predict(model, x: torch.Tensor, batch: int = 16, amp: bool = False) -> torch.Tensor:
    """Run the network over inputs (N, C, S, S) (background already composed) in batches -> (N, 4, S, S) float32."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for s in range(0, x.shape[0], batch):
        xb = x[s:s + batch].to(dev)
        with torch.autocast(dev.type, dtype=torch.float16, enabled=amp and dev.type == "cuda"):
            out.append(model(xb).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def evaluate_split(model, data: AvatarData, split: str = "val", batch: int = 16) -> dict:
    """Mean metrics over a split, every image over black against the masked frame (see ``metrics.py``):
    person_psnr/person_ssim (dB, [0-1]) inside the person region, the same for the copy-the-input baseline,
    mask_iou, sharpness (prediction/truth high-frequency energy), and the whole-frame psnr/ssim of the valid
    region as frame_psnr/frame_ssim (mostly background: not a likeness figure). Frames without a person in their
    mask are left out of the person figures (an empty render would score 100 dB there): ``person_frames`` counts
    the frames scored."""
    from backend.avatar.metrics import person_metrics

    idx = data.indices(split)
    if len(idx) == 0:
        return {}
    dev = next(model.parameters()).device
    res: dict[str, list] = {"frame_psnr": [], "frame_ssim": [], "baseline_frame_psnr": []}
    for s in range(0, len(idx), batch):
        x, y, m, v = batch_tensors(data, idx[s:s + batch], dev)
        bg = torch.zeros(x.shape[0], 3, 1, 1, device=dev)
        out = predict(model, compose_input(x, bg), batch).to(dev)
        pred = out[:, :3] * out[:, 3:4]  # what the RGBA output looks like over black
        gt = y * m
        res["frame_psnr"].append(psnr(pred * v, gt * v))
        res["frame_ssim"].append(ssim(pred * v, gt * v))
        res["baseline_frame_psnr"].append(psnr(x[:, :3] * v, gt * v))
        no_person = (m * v).flatten(1).amax(1) < 0.5  # no person truth (the perception found none): not scored
        for k, val in person_metrics(out[:, :3], out[:, 3:4], y, m, v, x[:, :3], x[:, -1:]).items():
            res.setdefault(k, []).append(val.masked_fill(no_person, float("nan")))
        res.setdefault("person_frames", []).append((~no_person).float())
    means = {k: float(torch.cat(vals).nanmean()) for k, vals in res.items() if k != "person_frames"}
    return means | {"gain_db": means["person_psnr"] - means["baseline_person_psnr"], "frames": int(len(idx)),
                    "person_frames": int(torch.cat(res["person_frames"]).sum())}


def train(dataset: str | Path, out_dir: str | Path, cfg: TrainConfig = TrainConfig(), device: str = "auto",
          resume: bool = True, progress: Callable | None = None, check_cancelled: Callable | None = None) -> Path:
    """Train (or resume) on ``dataset``; writes ``out_dir/checkpoint.pt`` (latest) and returns its path.

    progress(stage, done, total, message) is called every ``log_every`` steps; check_cancelled() may raise to stop
    (the latest checkpoint is saved first)."""
    dev = select_device(device)
    data = load_dataset(dataset)
    train_idx = data.indices("train")
    if len(train_idx) == 0:
        raise ValueError(f"{dataset}: the dataset has no training frames.")
    out_dir = Path(out_dir)
    ckpt_path = out_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    unet_cfg = UNetConfig(in_channels=data.inputs.shape[1], base=cfg.base, depth=cfg.depth, texture=cfg.texture,
                          texture_res=cfg.texture_res)
    size = data.inputs.shape[-1]
    if size % (2**cfg.depth):
        raise ValueError(f"image size {size} is not divisible by 2**depth = {2**cfg.depth}; change --size or --depth.")
    model = AvatarUNet(unet_cfg).to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg)
    step, history = 0, []
    if resume and ckpt_path.is_file():
        state = read_checkpoint(ckpt_path, dev)
        check_compatible(ckpt_path, state, dict(data.meta, size=size, in_channels=unet_cfg.in_channels),
                         "train into a new --out folder or pass --fresh to start over")
        check_same_network(ckpt_path, state, unet_cfg)
        model.load_state_dict(state["model"])
        scales = [g["lr_scale"] for g in opt.param_groups]
        opt.load_state_dict(state["optimizer"])
        for g, scale in zip(opt.param_groups, scales):  # this run's texture_lr, also over an older checkpoint
            g["lr_scale"] = scale
        step, history = int(state["step"]), list(state.get("history", []))
        log.info("resuming %s at step %d", ckpt_path, step)
    vgg = VGGPerceptual(cfg.vgg_weights).to(dev) if cfg.vgg > 0 else None
    amp = cfg.amp and dev.type == "cuda"
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    data_meta = dict(data.meta, size=size, in_channels=unet_cfg.in_channels)
    sched = lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))  # noqa: E731
    rng = np.random.default_rng(cfg.seed + step)
    order: list[int] = []
    t0, seen, start_step = time.time(), 0, step
    model.train()
    try:
        while step < cfg.steps:
            if check_cancelled is not None:
                check_cancelled()
            if len(order) < cfg.batch:  # shuffled epochs over the training frames
                order += rng.permutation(train_idx).tolist()
            idx, order = np.asarray(order[:cfg.batch]), order[cfg.batch:]
            x, y, m, v = batch_tensors(data, idx, dev)
            x, target, m, v = augment(x, y, m, v, cfg, gen)
            if dev.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * g["lr_scale"] * sched(step)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp):
                pred = model(x)
            loss, terms = compute_loss(pred, target, m, v, cfg, vgg)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            seen += len(idx)
            if step % cfg.log_every == 0 or step == cfg.steps:
                rate = seen / max(time.time() - t0, 1e-9)
                eta = (cfg.steps - step) * cfg.batch / max(rate, 1e-9)
                msg = (f"step {step}/{cfg.steps} loss {float(loss.detach()):.4f} "
                       + " ".join(f"{k} {v:.4f}" for k, v in terms.items()) + f" | {rate:.1f} img/s, eta {eta:.0f} s")
                log.info("%s", msg)
                if progress:
                    progress("train", step, cfg.steps, msg)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                metrics = evaluate_split(model, data, "val")
                model.train()
                if metrics:
                    history.append({"step": step, **metrics})
                    log.info("step %d validation, person region: psnr %.2f dB, ssim %.4f (copy-input %.2f dB), "
                             "sharpness %.2f", step, metrics["person_psnr"], metrics["person_ssim"],
                             metrics["baseline_person_psnr"], metrics["sharpness"])
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                save_checkpoint(ckpt_path, model, opt, step, cfg, data_meta, history)
    except BaseException:  # cancelled (or interrupted) between steps: keep what was learnt
        if step > start_step:
            save_checkpoint(ckpt_path, model, opt, step, cfg, data_meta, history)
            log.info("stopped at step %d; checkpoint saved to %s", step, ckpt_path)
        raise
    if step == start_step and not ckpt_path.is_file():
        save_checkpoint(ckpt_path, model, opt, step, cfg, data_meta, history)
    log.info("trained %d steps (%d this run) -> %s", step, step - start_step, ckpt_path)
    return ckpt_path
