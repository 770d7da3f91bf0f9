"""Figures and a Markdown table from logged runs (metrics.json + predictions.npz in each run folder):
per-epoch curves, training error (the degradation plot), a confusion matrix and a prediction grid per run."""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np

from .train import METRICS_JSON, PREDS


def load_run(folder: Path) -> dict:
    path = folder / METRICS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {folder} a run folder written by 'classifiers train'?")
    run = json.loads(path.read_text())
    run["label"], run["folder"] = folder.name, folder
    return run


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _style(run: dict) -> dict:
    return {"linestyle": "-" if run["config"]["model"].startswith("resnet") else "--", "marker": "o", "ms": 3}


def plot_curves(runs: list[dict], path: Path, title: str) -> Path:
    """Loss optimised (train), test cross-entropy and test accuracy per epoch, one line per run (and a
    dotted one for the weight EMA of runs that kept one)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = [("train_loss", "training loss (as optimised)"), ("test_ce", "test cross-entropy on logits"),
              ("test_acc", "test accuracy (%)")]
    for ax, (key, name) in zip(axes, panels):
        for r in runs:
            epochs = [h["epoch"] for h in r["history"]]
            line, = ax.plot(epochs, [h[key] for h in r["history"]], label=r["label"], **_style(r))
            if f"ema_{key}" in r["history"][0] and key != "train_loss":
                ax.plot(epochs, [h[f"ema_{key}"] for h in r["history"]], label=f"{r['label']} (EMA)",
                        color=line.get_color(), linestyle=":", marker="s", ms=3)
        ax.set(xlabel="epoch", title=name)
        ax.grid(alpha=0.3)
    if any(r["config"]["thesis_loss"] for r in runs):
        axes[0].axhline(math.log(9 + math.e) - 1, ls=":", color="grey", label="thesis-loss floor (1.461)")
    axes[0].legend(fontsize=8)
    if any("ema_test_acc" in r["history"][0] for r in runs):
        axes[2].legend(handles=[h for h in axes[2].get_lines() if "(EMA)" in h.get_label()], fontsize=8,
                       loc="lower right")
    fig.suptitle(textwrap.fill(title, 120), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training_error(runs: list[dict], path: Path, title: str) -> Path:
    """Training error (%) against epoch: plain nets dashed, residual solid, one colour per depth."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    depths = sorted({r["config"]["model"].lstrip("resnetconv") for r in runs}, key=int)
    colours = dict(zip(depths, plt.cm.viridis(np.linspace(0, 0.85, max(len(depths), 1)))))
    for r in runs:
        d = r["config"]["model"].lstrip("resnetconv")
        ax.plot([h["epoch"] for h in r["history"]], [100 - h["train_acc"] for h in r["history"]],
                color=colours[d], label=r["label"], **_style(r))
    ax.set(xlabel="epoch", ylabel="training error (%)", yscale="log")
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion(labels: np.ndarray, preds: np.ndarray, k: int = 10) -> np.ndarray:
    """(k, k) counts: row = true class, column = predicted class."""
    return np.bincount(labels.astype(np.int64) * k + preds, minlength=k * k).reshape(k, k)


def plot_confusion(run: dict, path: Path) -> Path:
    plt = _plt()
    p = np.load(run["folder"] / PREDS)
    cm = confusion(p["labels"], p["preds"])
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if i == j else "black")
    acc = 100 * np.trace(cm) / cm.sum()
    ax.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10),
           title=f"{run['label']}: {acc:.2f}% of {cm.sum()}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_predictions(run: dict, path: Path, n: int = 32) -> Path:
    """Top: the first test images with their predictions. Bottom: the first mistakes, in red, 'pred (true)'."""
    plt = _plt()
    p = np.load(run["folder"] / PREDS)
    items = [(x, i) for x, i in zip(p["sample_x"][:n], p["sample_idx"][:n])]
    items += [(x, i) for x, i in zip(p["wrong_x"][:n], p["wrong_idx"][:n])]
    cols = 8
    rows = max(1, -(-len(items) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.35), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (x, i) in zip(axes.flat, items):
        pred, true = int(p["preds"][i]), int(p["labels"][i])
        ax.imshow(x, cmap="gray")
        wrong = pred != true
        ax.set_title(f"{pred} ({true})" if wrong else str(pred), color="red" if wrong else "green", fontsize=9)
        if wrong:
            ax.add_patch(plt.Rectangle((0, 0), 27, 27, fill=False, edgecolor="red", linewidth=2))
    fig.suptitle(f"{run['label']}: predictions (mistakes in red, 'predicted (true)')", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table(runs: list[dict]) -> str:
    """Markdown: one row per run with its final test accuracy (of the live weights, and of their moving
    average when the run kept one) and mean seconds per epoch."""
    head = ("| run | model | dataset | loss | train images | parameters | epochs | test acc (%) | best (%) "
            "| EMA test acc (%) | s/epoch (train) | device | threads |\n|" + "---|" * 13)
    rows = []
    for r in runs:
        c, h = r["config"], r["history"]
        secs = np.mean([x["seconds"] for x in h])
        ema = f"{h[-1]['ema_test_acc']:.2f} (decay {c['ema']})" if "ema_test_acc" in h[-1] else "-"
        rows.append(f"| {r['label']} | {c['model']} (width {c['width']}) | {c['dataset']} | "
                    f"{'thesis (CE on softmax)' if c['thesis_loss'] else 'CE on logits'} | {r['n_train']} | "
                    f"{r['parameters']:,} | {len(h)} | {h[-1]['test_acc']:.2f} | "
                    f"{max(x['test_acc'] for x in h):.2f} | {ema} | {secs:.1f} | {r['device']} | {r['threads']} |")
    return "\n".join([head, *rows]) + "\n"


def posthoc_tables(runs: list[dict]) -> str:
    """The `classifiers evaluate` table of each run that has one (posthoc.md), under one heading."""
    from .posthoc import POSTHOC_MD

    parts = [(r["folder"] / POSTHOC_MD).read_text().replace("# ", "### ", 1) for r in runs
             if (r["folder"] / POSTHOC_MD).is_file()]
    if not parts:
        return ""
    return ("\n## Evaluated again: `classifiers evaluate RUN` (same weights; training unchanged)\n\n"
            + "\n".join(parts))


def make_report(folders: list[Path], out: Path, title: str = "MNIST") -> list[Path]:
    """Every figure and results.md for the given run folders; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(f) for f in folders]
    written = [plot_curves(runs, out / "curves.png", title),
               plot_training_error(runs, out / "train_error.png", f"{title}: training error")]
    for r in runs:
        if (r["folder"] / PREDS).is_file():
            written += [plot_confusion(r, out / f"confusion_{r['label']}.png"),
                        plot_predictions(r, out / f"predictions_{r['label']}.png")]
    (out / "results.md").write_text(f"# {title}\n\n" + table(runs) + posthoc_tables(runs))
    return [*written, out / "results.md"]
