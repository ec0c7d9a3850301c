"""Throughput of the batched body-model forward pass (vertices/s) at batch 1 vs a large batch, on CPU (or --device).

Prints, per model, vertices/s at batch 1 (the baseline, measured in the same run), at batch N, and the ratio
(batch-N throughput / batch-1 throughput). Anny is always measured; SMPL-X uses the SYNTHETIC model files
from tests/bodymodels/synthetic_models.py (same sizes as the released model), written to a temporary folder.

    .venv/bin/python scripts/bench/bench_bodymodel_forward.py [--batch 256] [--seconds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def vertices_per_second(model, batch: int, seconds: float, device: str) -> tuple[float, float]:
    """(vertices per wall-clock second, vertices per process-CPU second) of the no-grad forward pass."""
    g = torch.Generator().manual_seed(0)
    rotvec = (torch.randn(batch, model.num_joints, 3, generator=g) * 0.3).to(device)
    transl = torch.zeros(batch, 3, device=device)
    shape = torch.zeros(1, model.num_shape, device=device)
    expr = torch.zeros(1, model.num_expression, device=device) if model.num_expression else None
    with torch.no_grad():
        out = model(rotvec, transl, shape, expr)  # warm-up
        V = out.vertices.shape[1]
        runs, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            model(rotvec, transl, shape, expr)
            if device != "cpu":
                torch.cuda.synchronize()
            runs += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and runs >= 2:
                break
        cpu = time.process_time() - cpu_start
    return runs * batch * V / elapsed, runs * batch * V / max(cpu, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from backend.bodymodels import load_body_model

    spec = importlib.util.spec_from_file_location("synthetic_models",
                                                  REPO / "tests" / "bodymodels" / "synthetic_models.py")
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        synthetic.write_synthetic_models(tmp, models=("smplx",))
        models = {"anny": load_body_model("anny", device=args.device),
                  "smplx (synthetic)": load_body_model("smplx", model_dir=tmp, device=args.device)}
        # Wall-clock throughput is what a user waits for; CPU-time throughput is steadier on a shared machine.
        print(f"{'model':20s}{'clock':>6s}{'batch 1 vert/s':>16s}{f'batch {args.batch} vert/s':>20s}{'ratio':>9s}")
        for name, model in models.items():
            one = vertices_per_second(model, 1, args.seconds, args.device)
            many = vertices_per_second(model, args.batch, args.seconds, args.device)
            for k, clock in enumerate(("wall", "cpu")):
                print(f"{name:20s}{clock:>6s}{one[k]:16.3g}{many[k]:20.3g}{many[k] / one[k]:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
