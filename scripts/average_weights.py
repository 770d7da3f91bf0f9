"""Average the weights of several checkpoints into a new checkpoint with its sidecar: the saved epochs of
one training run (stochastic weight averaging), or fine-tunes of one parent with other settings (a "model
soup", Wortsman et al. 2022).

    python scripts/average_weights.py runs/fusion-hc03/best.safetensors runs/fusion-hc03/epoch-7.pt \
        runs/fusion-hc03/epoch-8.pt -o runs/soup/soup.safetensors
    python scripts/average_weights.py runs/pc-c256/best.safetensors runs/pc-c256-w015/best.safetensors \
        -o runs/soup-c256-w02-w015/soup.safetensors

Sources are `.safetensors` checkpoints (with their JSON sidecar) or the `resume.pt` / `epoch-N.pt` files
`framecolor train` writes (read with `weights_only=True`; only the run's own files belong here). The first
`.safetensors` source gives the config and the model card (less its best epoch and validation metrics, which
are not the mean's); the output records every source and its weight, and each checkpoint source's own card
(command, starting point, best epoch, validation metrics). When the
checkpoints come from different training commands, the card's `training_command` is all of them, then
this script's own command, joined by `&&`. The colorizer has no batch norm, so averaged weights need no
re-estimated statistics.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from framecolor.models.registry import load_checkpoint, read_meta, save_checkpoint


SOURCE_FIELDS = ("training_command", "init_from", "epoch", "val", "train_config")


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The colorizer's trainable weights from a checkpoint or a training-state file."""
    if path.suffix == ".safetensors":
        return load_checkpoint(path, pretrained_embedder=False).trainable_state_dict()
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise SystemExit(f"{path}: not a framecolor training state (no 'model' weights in it)")
    return state["model"]


def average(weights: list[dict[str, torch.Tensor]], mix: list[float]) -> dict[str, torch.Tensor]:
    keys = set(weights[0])
    for i, w in enumerate(weights[1:], 1):
        if set(w) != keys:
            raise SystemExit(f"source {i + 1} has other weights than source 1: {sorted(set(w) ^ keys)[:4]}")
    return {k: sum(m * w[k].float() for m, w in zip(mix, weights)) for k in keys}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", type=Path)
    ap.add_argument("-o", "--output", required=True, type=Path, help="new .safetensors checkpoint")
    ap.add_argument("--mix", default=None, help="comma-separated weights, one per source (default: equal)")
    ap.add_argument("--name", default=None, help="model name stored in the config")
    args = ap.parse_args(argv)
    mix = [float(m) for m in args.mix.split(",")] if args.mix else [1.0] * len(args.sources)
    if len(mix) != len(args.sources) or min(mix) < 0 or sum(mix) <= 0:
        raise SystemExit("--mix needs one non-negative weight per source, not all zero")
    mix = [m / sum(mix) for m in mix]
    base = next((p for p in args.sources if p.suffix == ".safetensors"), None)
    if base is None:
        raise SystemExit("one source must be a .safetensors checkpoint: it gives the config")
    if args.output.resolve() in {p.resolve() for p in args.sources}:
        raise SystemExit(f"{args.output}: the output would overwrite a source")
    model = load_checkpoint(base)
    model.load_state_dict(average([load_weights(p) for p in args.sources], mix), strict=False)
    if args.name:
        model.config = model.config.replace(name=args.name)
    meta = {k: v for k, v in read_meta(base).items() if k not in ("config", "sha256", "evaluation")}
    cards = {p: read_meta(p) if p.suffix == ".safetensors" else {} for p in args.sources}
    meta["averaged_from"] = [{"source": str(p), "weight": round(m, 6),
                              **{k: v for k, v in cards[p].items() if k in SOURCE_FIELDS}}
                             for p, m in zip(args.sources, mix)]
    meta["averaging_command"] = " ".join(["python scripts/average_weights.py", *map(str, args.sources), "-o",
                                          str(args.output), *(["--mix", args.mix] if args.mix else []),
                                          *(["--name", args.name] if args.name else [])])
    for k in ("epoch", "val"):  # the first source's best epoch and its scores: they are not the mean's
        meta.pop(k, None)
    commands = list(dict.fromkeys(c["training_command"] for c in cards.values() if c.get("training_command")))
    if len(commands) > 1:  # several runs: no one run's command or settings speak for the mean
        for k in ("train_config", "init_from"):
            meta.pop(k, None)
        meta["training_command"] = " && ".join([*commands, meta["averaging_command"]])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out = save_checkpoint(model, args.output, meta)
    print(out, read_meta(out)["sha256"])


if __name__ == "__main__":
    main()
