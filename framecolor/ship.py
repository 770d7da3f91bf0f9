"""Shipping weights: a run's checkpoint copied under a registry name with its model card
(`framecolor ship`), and weighted means of checkpoints (`framecolor average-weights`).

A card keeps what the run recorded (training command, data, split sizes, training config, training-set
mean a*b*, validation metrics of the best epoch) and adds the evaluation summary when given. A fine-tune
names its starting point (`init_from`); `earlier` runs are recorded first to last, with their own
commands and best epochs, so the card holds the whole chain.

Averages: the saved epochs of one run (stochastic weight averaging), or fine-tunes of one parent with
other settings (a "model soup", Wortsman et al. 2022). Sources are `.safetensors` checkpoints (with their
JSON sidecar) or the `resume.pt` / `epoch-N.pt` files `framecolor train` writes, read with
`weights_only=True`. The colorizer has no batch norm, so averaged weights need no re-estimated statistics.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch

from .errors import InputError
from .models.embedders import BUNDLED_DIR
from .models.registry import load_checkpoint, read_meta, save_checkpoint

# Fields of an earlier stage's card that a shipped card repeats.
EARLIER_FIELDS = ("training_command", "init_from", "epoch", "val", "train_config", "stage", "hardware",
                  "train_images", "val_images")
# Fields of each averaged source's card that the average's card records.
SOURCE_FIELDS = ("training_command", "init_from", "epoch", "val", "train_config")


def run_checkpoint(run: str | os.PathLike) -> Path:
    """A run folder's checkpoint: best.safetensors (framecolor train), else last.safetensors (--arch unet);
    a .safetensors path is itself."""
    run = Path(run)
    if run.suffix == ".safetensors":
        return run
    return run / "best.safetensors" if (run / "best.safetensors").is_file() else run / "last.safetensors"


def _history(folder: Path) -> Any:
    h = folder / "history.json"
    return json.loads(h.read_text()) if h.is_file() else None


def model_card(run: str | os.PathLike, evaluation: str | os.PathLike | None = None,
               earlier: Sequence[str | os.PathLike] = (), extra: dict[str, str | os.PathLike] | None = None
               ) -> dict[str, Any]:
    """The card of a run's checkpoint (less config and sha256, which the save writes), with its history,
    each averaged source's history, the earlier stages, the evaluation summary and `extra` JSON files."""
    src = run_checkpoint(run)
    meta = {k: v for k, v in read_meta(src).items() if k not in ("config", "sha256")}
    if (history := _history(src.parent)) is not None:
        meta["history"] = history
    for source in meta.get("averaged_from", []):  # a weight average: each source run's per-epoch history
        if Path(source["source"]).suffix == ".safetensors" and (h := _history(Path(source["source"]).parent)):
            source["history"] = h
    if earlier:
        meta["earlier_stages"] = [{"run": str(r), **{k: v for k, v in read_meta(run_checkpoint(r)).items()
                                                     if k in EARLIER_FIELDS}, "history": _history(Path(r))}
                                  for r in earlier]
    if evaluation:
        ev = json.loads(Path(evaluation).read_text())
        settings = ev.get("settings") or {k: v for k, v in ev.items() if k not in ("summary", "clips")}
        meta["evaluation"] = {"summary": ev.get("summary"), "settings": settings}
    for key, path in (extra or {}).items():
        meta[key] = json.loads(Path(path).read_text())
    return meta


def ship_model(run: str | os.PathLike, name: str, chroma_gain: float | None = None,
               evaluation: str | os.PathLike | None = None, earlier: Sequence[str | os.PathLike] = (),
               extra: dict[str, str | os.PathLike] | None = None, out_dir: str | os.PathLike = BUNDLED_DIR) -> Path:
    """Save a run's checkpoint (a run folder or a .safetensors file) as `out_dir/<name>.safetensors` with
    its model card; returns the written checkpoint."""
    model = load_checkpoint(run_checkpoint(run))
    model.config = model.config.replace(name=name)
    if chroma_gain is not None:
        model.config = model.config.replace(chroma_gain=chroma_gain)
    meta = model_card(run, evaluation, earlier, extra)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return save_checkpoint(model, Path(out_dir) / f"{name}.safetensors", meta)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The colorizer's trainable weights from a checkpoint or a training-state file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_checkpoint(path, pretrained_embedder=False).trainable_state_dict()
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise InputError("not a framecolor training state (no 'model' weights in it)", path)
    return state["model"]


def average(weights: list[dict[str, torch.Tensor]], mix: Sequence[float]) -> dict[str, torch.Tensor]:
    """sum(mix[i] * weights[i]) per tensor; every source must hold the same tensors."""
    keys = set(weights[0])
    for i, w in enumerate(weights[1:], 1):
        if set(w) != keys:
            raise ValueError(f"source {i + 1} has other weights than source 1: {sorted(set(w) ^ keys)[:4]}")
    return {k: sum(m * w[k].float() for m, w in zip(mix, weights)) for k in keys}


def _normalised_mix(mix: Sequence[float] | None, n: int) -> list[float]:
    mix = list(mix) if mix else [1.0] * n
    if len(mix) != n or min(mix) < 0 or sum(mix) <= 0:
        raise ValueError(f"the mix needs one non-negative weight per source ({n}), not all zero; got {mix}")
    return [m / sum(mix) for m in mix]


def average_checkpoints(sources: Sequence[str | os.PathLike], output: str | os.PathLike,
                        mix: Sequence[float] | None = None, name: str | None = None,
                        command: str | None = None) -> Path:
    """Write the weighted mean of `sources` (default: equal weights) as a checkpoint at `output`. The first
    .safetensors source gives the config and the card (less its best epoch and validation metrics, which
    are not the mean's); the card records every source with its weight and its own card's fields. When the
    sources come from several training commands, `training_command` is all of them and `command` (the one
    that made the average), joined by `&&`."""
    sources, output = [Path(p) for p in sources], Path(output)
    weights = _normalised_mix(mix, len(sources))
    base = next((p for p in sources if p.suffix == ".safetensors"), None)
    if base is None:
        raise ValueError("one source must be a .safetensors checkpoint: it gives the config")
    if output.resolve() in {p.resolve() for p in sources}:
        raise InputError("the output would overwrite a source", output)
    model = load_checkpoint(base)
    model.load_state_dict(average([load_weights(p) for p in sources], weights), strict=False)
    if name:
        model.config = model.config.replace(name=name)
    meta = {k: v for k, v in read_meta(base).items() if k not in ("config", "sha256", "evaluation", "epoch", "val")}
    cards = {p: read_meta(p) if p.suffix == ".safetensors" else {} for p in sources}
    meta["averaged_from"] = [{"source": str(p), "weight": round(m, 6),
                              **{k: v for k, v in cards[p].items() if k in SOURCE_FIELDS}}
                             for p, m in zip(sources, weights)]
    if command:
        meta["averaging_command"] = command
    commands = list(dict.fromkeys(c["training_command"] for c in cards.values() if c.get("training_command")))
    if len(commands) > 1:  # several runs: no one run's command or settings speak for the mean
        for k in ("train_config", "init_from"):
            meta.pop(k, None)
        meta["training_command"] = " && ".join([*commands, *([command] if command else [])])
    output.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(model, output, meta)
