"""Train the ConvLSTM temporal head on colour clips, on top of a trained image colorizer.

    python scripts/train_lstm.py ../shared/data/clips --base koala-effnet-lite0 -o runs/lstm --epochs 10
    cp runs/lstm/best.safetensors framecolor/weights/koala-effnet-lite0-lstm.safetensors  (+ the .json)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from framecolor.training.temporal_loop import TemporalTrainConfig, train_temporal

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", help="folder of colour video clips")
    p.add_argument("--base", default="koala-effnet-lite0", help="trained image model (name or checkpoint)")
    p.add_argument("-o", "--output", required=True, help="run folder (cache, checkpoints, history; resumes)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    for f in TemporalTrainConfig.__dataclass_fields__.values():  # one option per config field
        flag = f"--{f.name.replace('_', '-')}"
        if f.type == "bool":
            p.add_argument(flag, action="store_true")
        elif f.type == "str":
            p.add_argument(flag, default=f.default)
        else:
            p.add_argument(flag, type=int if "int" in f.type else float, default=f.default)
    args = p.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    cfg = TemporalTrainConfig(**{k: getattr(args, k) for k in TemporalTrainConfig.__dataclass_fields__})
    command = " ".join(["python", "scripts/train_lstm.py", *(argv if argv is not None else sys.argv[1:])])
    print(train_temporal(args.clips, args.base, args.output, cfg, args.device, command=command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
