"""Time one training step of the fusion model on the CPU, with the cached per-photo embedding and with
`--embed-per-crop` (the frozen classifier reads each crop), and the classifier's share of it: as
`framecolor train` runs it now (batch norms folded, the classifier in CPU micro-batches) and as it ran
before (one classifier call per batch, batch norms kept). Page faults per step are counted too.
Random crops and a random cached embedding: the weights and the data do not change speed.

    python benchmarks/bench_train_step.py --out results/training/bench_train_step.json
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="koala-effnet-lite0")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--steps", type=int, default=4, help="timed steps per case per round")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best round of each case is kept")
    p.add_argument("--out", default="bench_train_step.json")
    return p.parse_args(argv)


def make_step(model, opt, L, ab, cached, per_crop: bool):
    from framecolor.color import normalize_ab
    from framecolor.precision import autocast

    def step() -> tuple[float, float]:  # as training.loop.train_one_epoch with bf16
        t0 = time.perf_counter()
        emb = None if model.fusion is None else model.embed(L).float() if per_crop else cached.to(L.device)
        t1 = time.perf_counter()
        with autocast(L.device, "bf16"):
            pred = model(L, emb)
        loss = F.mse_loss(pred.float(), normalize_ab(ab))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return t1 - t0, time.perf_counter() - t0
    return step


def timed(step, n: int) -> dict:
    step()  # warm-up
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    emb = total = 0.0
    for _ in range(n):
        e, t = step()
        emb, total = emb + e, total + t
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {"classifier_ms": 1000 * emb / n, "step_ms": 1000 * total / n, "page_faults": faults / n}


def main(argv=None) -> int:
    from framecolor.models.embedders import ClassifierEmbedder
    from framecolor.models.registry import load_checkpoint

    args = parse(argv)
    torch.manual_seed(0)
    models = {"before": load_checkpoint(args.model).train(), "now": load_checkpoint(args.model).train()}
    models["now"].fold_classifier_batch_norm()  # as framecolor.training.loop.train does
    whole = {"before": lambda self: 1 << 30, "now": ClassifierEmbedder.cpu_micro_batch}
    b, c = args.batch_size, args.crop
    L, ab = torch.rand(b, 1, c, c) * 100, (torch.rand(b, 2, c, c) - 0.5) * 60
    cached = torch.softmax(torch.randn(b, 1000), dim=1)
    cases = {}
    for name, model in models.items():
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-4)
        for per_crop in (False, True):
            cases[(name, per_crop)] = make_step(model, opt, L, ab, cached, per_crop)
    best: dict = {}
    original = ClassifierEmbedder.cpu_micro_batch
    try:
        for _ in range(args.rounds):
            for (name, per_crop), step in cases.items():
                ClassifierEmbedder.cpu_micro_batch = whole[name]
                r = timed(step, args.steps)
                key = f"{name}, {'per-crop' if per_crop else 'cached'} embedding"
                if key not in best or r["step_ms"] < best[key]["step_ms"]:
                    best[key] = r
    finally:
        ClassifierEmbedder.cpu_micro_batch = original
    doc = {"command": " ".join(["benchmarks/bench_train_step.py", *sys.argv[1:]]), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "batch_size": b, "crop": c, "bf16": True, "cases": best}
    for k, r in best.items():
        print(f"{k:32s} step {r['step_ms']:6.0f} ms  classifier {r['classifier_ms']:5.0f} ms  "
              f"page faults {r['page_faults']:8.0f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
