"""Evaluate a finished run again, with what changes the evaluation but not the training: the live or the
averaged (EMA) weights, batch-norm statistics recomputed for those weights, and test-time shifts.

Batch-norm recalibration: the EMA's running statistics are averages of the *live* net's statistics, not
the statistics of the averaged weights (the point SWA makes: Izmailov et al. 2018). One forward pass in
training mode over training images, with cumulative averaging, recomputes them for the weights evaluated.

Test-time shifts: the class probabilities averaged over the test image translated by every (dy, dx) in
[-N, N]^2 (zero fill), the counterpart of training with ``--augment-shift``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.optim.swa_utils import update_bn

from .config import TrainConfig
from .data import load_dataset
from .models import Net, build_model
from .train import CKPT, STATE, Split, model_input, pick_device, prepare, random_shift, seeded_subset

POSTHOC_JSON, POSTHOC_MD = "posthoc.json", "posthoc.md"


def read_run(run: Path) -> tuple[TrainConfig, dict[str, torch.Tensor]]:
    """The config and every tensor of the run folder ``run``'s checkpoint (read once)."""
    for name in (STATE, CKPT):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run / name}: no such file; is {run} a finished `classifiers train` run?")
    return TrainConfig.from_dict(json.loads((run / STATE).read_text())["config"]), load_file(run / CKPT)


def trained_net(cfg: TrainConfig, tensors: dict[str, torch.Tensor], weights: str, device: torch.device) -> Net:
    """A fresh net holding the checkpoint's ``live`` or ``ema`` weights, in eval mode."""
    if weights not in ("live", "ema"):
        raise ValueError(f"weights must be 'live' or 'ema', got {weights!r}")
    prefix = "model." if weights == "live" else "ema.module."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not state:
        raise ValueError("the run kept no EMA weights (it was trained without --ema)")
    model = build_model(cfg.net())
    model.load_state_dict(state)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    return model.to(device, memory_format=fmt).eval()


def load_trained(run: Path, weights: str, device: torch.device) -> tuple[TrainConfig, Net]:
    """The config and the ``live`` or ``ema`` weights of the run folder ``run``."""
    cfg, tensors = read_run(run)
    try:
        return cfg, trained_net(cfg, tensors, weights, device)
    except ValueError as e:
        raise ValueError(f"{run / CKPT}: {e}") from None


def recalibrate_bn(model: Net, data: Split, cfg: TrainConfig, device: torch.device, n: int) -> int:
    """Recompute every batch-norm layer's running mean and variance for ``model``'s own weights: a
    cumulative average over the first ``n`` images of a seeded order of ``data`` (unshifted, as the
    test images are), in batches of ``cfg.batch_size`` (torch's swa_utils.update_bn). Returns how many
    images that was (``n``, or all of ``data`` when it holds fewer)."""
    idx = torch.from_numpy(seeded_subset(len(data.y), n, cfg.seed + 1))
    batches = (model_input(data.x[idx[i:i + cfg.batch_size]], cfg, device)
               for i in range(0, len(idx), cfg.batch_size))
    update_bn(batches, model, device)
    model.eval()
    return len(idx)


def _views(shift: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]


@torch.inference_mode()
def evaluate_shifted(model: torch.nn.Module, data: Split, cfg: TrainConfig, device: torch.device,
                     shift: int = 0) -> tuple[dict, np.ndarray]:
    """Accuracy and NLL of the class probabilities averaged over the (2 * shift + 1)^2 translated copies
    of each test image (shift 0: the image alone, as ``train.evaluate``); also the predicted classes."""
    model.eval()
    views = _views(shift)
    correct, nll, preds = 0, 0.0, []
    for i in range(0, len(data.y), cfg.eval_batch_size):
        xb, y = data.x[i:i + cfg.eval_batch_size], data.y[i:i + cfg.eval_batch_size].to(device)
        prob = 0
        for dy, dx in views:
            x = xb if (dy, dx) == (0, 0) else random_shift(
                xb, torch.tensor([[dy + shift, dx + shift]]).expand(len(xb), 2), shift)
            prob = prob + F.softmax(model(model_input(x, cfg, device)).float(), dim=1)
        prob = prob / len(views)
        preds.append(prob.argmax(1))
        correct += int((preds[-1] == y).sum())
        nll += float(-torch.log(prob.gather(1, y[:, None]).clamp_min(1e-12)).sum())
    return ({"test_acc": 100 * correct / len(data.y), "test_ce": nll / len(data.y), "views": len(views)},
            torch.cat(preds).cpu().numpy().astype(np.uint8))


def posthoc(run: str | Path, data_root: str | Path | None = None, device: str = "auto", recal: int = 10_000,
            shift: int = 1, dataset=None) -> list[dict]:
    """Every combination of {live, ema (when kept)} x {stored BN statistics, recalibrated on ``recal``
    training images} x {no shift, test-time shifts of up to ``shift`` pixels}, evaluated on the run's
    test split. Writes posthoc.json and posthoc.md into the run folder and returns the rows."""
    run, dev = Path(run), pick_device(device)
    cfg, tensors = read_run(run)
    train, test = prepare(dataset if dataset is not None else load_dataset(cfg.dataset, data_root), cfg)
    kinds = ["live"] + (["ema"] if any(k.startswith("ema.") for k in tensors) else [])
    rows = []
    for weights in kinds:
        for bn in (["stored", "recalibrated"] if recal else ["stored"]):
            model = trained_net(cfg, tensors, weights, dev)
            used = recalibrate_bn(model, train, cfg, dev, recal) if bn == "recalibrated" else 0
            for s in sorted({0, shift}):
                m = evaluate_shifted(model, test, cfg, dev, s)[0]
                rows.append({"weights": weights, "bn": bn, "bn_images": used, "shift": s, **m})
    doc = {"run": str(run), "config": cfg.to_dict(), "n_test": len(test.y), "rows": rows}
    _write_atomic(run / POSTHOC_JSON, json.dumps(doc, indent=1))
    _write_atomic(run / POSTHOC_MD, posthoc_markdown(doc))
    return rows


def posthoc_markdown(doc: dict) -> str:
    cfg = doc["config"]
    lines = [f"# {Path(doc['run']).name}: evaluated again ({cfg['model']}, {doc['n_test']} test images)", "",
             "| weights | batch-norm statistics | test-time shifts | views | test acc (%) | test NLL |",
             "|---|---|---|---:|---:|---:|"]
    for r in doc["rows"]:
        bn = f"recalibrated on {r['bn_images']} training images" if r["bn"] == "recalibrated" else "stored"
        shifts = f"up to {r['shift']} px" if r["shift"] else "none"
        lines.append(f"| {r['weights']} | {bn} | {shifts} | {r['views']} | {r['test_acc']:.2f} | {r['test_ce']:.4f} |")
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
