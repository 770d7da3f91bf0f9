"""Copy a run's best checkpoint into framecolor/weights/ under a registry name, with its model card.

    python scripts/ship_model.py runs/fusion-hc03 koala-effnet-lite0 [--evaluation results/eval/evaluation.json]
        [--earlier runs/stage1 ...]
    python scripts/ship_model.py runs/soup/soup.safetensors NAME ...   (a checkpoint file, e.g. an average)

The JSON sidecar keeps what the run recorded (training command, data, split sizes, training config,
training-set mean a*b*, validation metrics of the best epoch) and adds the evaluation summary if given.
A fine-tune names its starting point (`init_from`); `--earlier` records the runs before it, first to
last, with their own commands and best epochs, so the card holds the whole chain.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from framecolor.models.embedders import BUNDLED_DIR
from framecolor.models.registry import load_checkpoint, read_meta, save_checkpoint


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="training run folder (holds best.safetensors), or a .safetensors checkpoint "
                                "such as one from scripts/average_weights.py")
    ap.add_argument("name", help="registry name, e.g. koala-effnet-lite0 or basic-cnn")
    ap.add_argument("--chroma-gain", type=float, default=None, help="store this chroma gain in the model's config")
    ap.add_argument("--extra", action="append", default=[], metavar="KEY=JSONFILE",
                    help="add a JSON file's content to the card under KEY (repeatable)")
    ap.add_argument("--evaluation", default=None,
                    help="JSON from `framecolor evaluate` or `framecolor evaluate-video`")
    ap.add_argument("--earlier", action="append", default=[],
                    help="an earlier training stage's run folder (repeat, first stage first)")
    args = ap.parse_args(argv)
    src = Path(args.run) if Path(args.run).suffix == ".safetensors" else _checkpoint(Path(args.run))
    model = load_checkpoint(src)
    model.config = model.config.replace(name=args.name)
    if args.chroma_gain is not None:
        model.config = model.config.replace(chroma_gain=args.chroma_gain)
    meta = {k: v for k, v in read_meta(src).items() if k not in ("config", "sha256")}
    history = (src.parent if Path(args.run).suffix == ".safetensors" else Path(args.run)) / "history.json"
    if history.is_file():
        meta["history"] = json.loads(history.read_text())
    for source in meta.get("averaged_from", []):  # a weight average: each source run's per-epoch history
        h = Path(source["source"]).parent / "history.json"
        if h.is_file() and Path(source["source"]).suffix == ".safetensors":
            source["history"] = json.loads(h.read_text())
    if args.earlier:
        meta["earlier_stages"] = [
            {"run": str(r), **{k: v for k, v in read_meta(_checkpoint(Path(r))).items()
                               if k in ("training_command", "init_from", "epoch", "val", "train_config", "stage",
                                        "hardware", "train_images", "val_images")},
             "history": json.loads((Path(r) / "history.json").read_text()) if (Path(r) / "history.json").is_file() else None}
            for r in args.earlier]
    if args.evaluation:
        ev = json.loads(Path(args.evaluation).read_text())
        settings = ev.get("settings") or {k: v for k, v in ev.items() if k not in ("summary", "clips")}
        meta["evaluation"] = {"summary": ev.get("summary"), "settings": settings}
    for item in args.extra:
        key, path = item.split("=", 1)
        meta[key] = json.loads(Path(path).read_text())
    out = save_checkpoint(model, BUNDLED_DIR / f"{args.name}.safetensors", meta)
    print(out, read_meta(out)["sha256"])


def _checkpoint(run: Path) -> Path:
    """A run folder's checkpoint: best.safetensors (framecolor train), else last.safetensors (--arch unet)."""
    return run / "best.safetensors" if (run / "best.safetensors").is_file() else run / "last.safetensors"


if __name__ == "__main__":
    main()
