"""Frozen configuration dataclasses for every model and pipeline setting."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Thesis Table 4.1: (out_channels, stride) per 3x3 conv of the encoder.
THESIS_ENCODER: tuple[tuple[int, int], ...] = (
    (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1), (256, 1),
)
# Decoder: ints are 3x3 conv + ReLU, "up" is a x2 nearest upsampling; the last conv is the tanh a*b* head.
THESIS_DECODER: tuple[int | str, ...] = (128, "up", 64, 64, "up", 32, 2, "up")
# How stride-2 convs pad: "symmetric" one zero pixel on every side (PyTorch), "tf_same" TensorFlow's
# padding="same" (the odd pixel goes bottom/right: models trained in Keras, as the thesis's were).
PADDINGS: tuple[str, ...] = ("symmetric", "tf_same")
# What the encoder is fed: "normalized" L/50 - 1, "raw" L* in 0..100 (the thesis's Keras scripts).
L_INPUTS: tuple[str, ...] = ("normalized", "raw")
LR_SCHEDULES: tuple[str, ...] = ("plateau", "cosine")
# Training losses: the thesis's MSE, or a pixel loss plus a colourfulness-matching term (training/loop.py).
LOSSES: tuple[str, ...] = ("mse", "huber_colorful", "mse_colorful", "photo_psnr")
# Video `--temporal flow` and `lstm`: weight of the carried colour where the flow is reliable (chosen on
# six training clips with experiments/tune_flow.py: the lowest CDC with PSNR no lower than per-frame;
# results/video/tune_flow_train_clips.json).
FLOW_STRENGTH: float = 1.0
# The most a CPU model call's largest activation may take: glibc maps blocks above its mmap threshold
# (at most 32 MiB) afresh on every call, and the kernel zeroes each new page (framecolor.inference).
CPU_ACTIVATION_BYTES = 24 << 20


def cpu_items_per_call(item_bytes: int) -> int:
    """Items (frames, images) per CPU model call whose largest activation takes `item_bytes` each:
    as many as stay under CPU_ACTIVATION_BYTES, at least one."""
    return max(1, CPU_ACTIVATION_BYTES // item_bytes)
# Shipped defaults: the U-Net on EfficientNet-Lite2 for photographs and film (docs/models.md). The LSTM
# head stays tied to its own base, the thesis model koala-effnet-lite0: `temporal="lstm"` with the
# default film model runs LSTM_MODEL (film.options.film_model).
PHOTO_MODEL: str = "unet-lite2"
VIDEO_MODEL: str = PHOTO_MODEL
LSTM_MODEL: str = "koala-effnet-lite0-lstm"
THESIS_PHOTO_MODEL: str = "koala-effnet-lite0-photo"  # the thesis fusion model, fine-tuned on photographs
THESIS_MODEL: str = "koala-effnet-lite0"  # the thesis fusion model (EfficientNet-Lite0 embedder)
BASIC_MODEL: str = "basic-cnn"  # the thesis's basic CNN, no classifier
# Every shipped model, by name (models/registry.py maps each to framecolor/weights/<name>.safetensors).
MODEL_NAMES: tuple[str, ...] = (PHOTO_MODEL, THESIS_PHOTO_MODEL, THESIS_MODEL, BASIC_MODEL, LSTM_MODEL)
# Film: "none" colorizes each frame alone, "flow" carries colour along optical flow, "lstm" runs the
# model's ConvLSTM head and then the same flow carry.
TEMPORAL_MODES: tuple[str, ...] = ("none", "flow", "lstm")


def check_temporal_modes(*modes: str) -> None:
    """ValueError naming any mode that is not one of TEMPORAL_MODES."""
    if unknown := [m for m in modes if m not in TEMPORAL_MODES]:
        raise ValueError(f"unknown temporal mode(s) {', '.join(unknown)}; choose from {', '.join(TEMPORAL_MODES)}")


# Model precisions (framecolor/precision.py): fp32, or bfloat16 / float16 autocast.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
# Colour clips for training the temporal head are the files with these suffixes.
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".avi", ".webm")


@dataclass(frozen=True)
class ColorizerSettings:
    """How to load a colorizer for inference (inference.load_colorizer takes the same values).

    model: a registry name or a checkpoint path. size: the short side the model runs at; None takes
    the model card's working size. precision: None takes bf16 on a GPU, fp32 on the CPU. chroma_gain and
    flip_average: None takes the card's."""

    model: str | os.PathLike = PHOTO_MODEL
    size: int | None = None
    device: str = "auto"
    precision: str | None = None
    chroma_gain: float | None = None
    batch_size: int = 8
    embedder_weights: str | None = None
    flip_average: bool | None = None

    def __post_init__(self) -> None:
        if self.size is not None and self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")


@dataclass(frozen=True)
class TemporalConfig:
    """ConvLSTM head over the fused bottleneck (FlowChroma-style)."""

    hidden_channels: int = 256
    kernel_size: int = 3


UNET_HEADS: tuple[str, ...] = ("ab", "bins")


@dataclass(frozen=True)
class UNetConfig:
    """The pretrained-encoder variant (framecolor/models/unet.py): U-Net decoder widths at strides 16, 8,
    4 and 2, the learned stem on L at stride 2, and the head: "ab" regresses a*b*/128 (tanh), "bins"
    classifies a*b* into the gamut's bins (Zhang et al. 2016) decoded by the annealed mean at `temperature`."""

    fusion_channels: int = 256
    channels: tuple[int, int, int, int] = (192, 128, 64, 48)
    stem_channels: int = 32
    head: str = "ab"
    temperature: float = 0.38

    def __post_init__(self) -> None:
        if self.head not in UNET_HEADS:
            raise ValueError(f"unet head={self.head!r}; expected one of {', '.join(map(repr, UNET_HEADS))}")
        if len(self.channels) != 4:
            raise ValueError(f"unet channels={self.channels}; expected 4 widths (strides 16, 8, 4, 2)")


@dataclass(frozen=True)
class ColorizerConfig:
    """Everything needed to rebuild a colorizer; stored as JSON next to its weights."""

    name: str = THESIS_MODEL
    embedder: str | None = "efficientnet_lite0"  # None -> the thesis's basic CNN (section 4.5)
    embed_dim: int = 1000
    encoder: tuple[tuple[int, int], ...] = THESIS_ENCODER
    fusion_channels: int = 256
    decoder: tuple[int | str, ...] = THESIS_DECODER
    temporal: TemporalConfig | None = None
    working_size: int = 256  # short side the model runs at; sides rounded to a multiple of 8
    chroma_gain: float = 1.0  # 1.0 = exact inverse of the ab/128 target scaling; the thesis used 2.0
    film_chroma_gain: float | None = None  # the gain for video where it differs; None -> chroma_gain
    flip_average: bool = False  # photos: average a*b* with the mirrored photo's, mirrored back (film: never)
    padding: str = "symmetric"  # one of PADDINGS
    l_input: str = "normalized"  # one of L_INPUTS
    unet: UNetConfig | None = None  # set: the embedder's own features feed a U-Net (encoder/decoder unused)

    def __post_init__(self) -> None:
        for key, allowed in (("padding", PADDINGS), ("l_input", L_INPUTS)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"colorizer config {key}={getattr(self, key)!r}; expected one of "
                                 f"{', '.join(map(repr, allowed))}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ColorizerConfig":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown colorizer config keys: {sorted(unknown)}")
        if "encoder" in d:
            d["encoder"] = tuple(tuple(x) for x in d["encoder"])
        if "decoder" in d:
            d["decoder"] = tuple(d["decoder"])
        if d.get("temporal") is not None:
            d["temporal"] = TemporalConfig(**d["temporal"])
        if d.get("unet") is not None:
            d["unet"] = UNetConfig(**{**d["unet"], "channels": tuple(d["unet"].get("channels", UNetConfig.channels))})
        return cls(**d)

    def replace(self, **changes: Any) -> "ColorizerConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (thesis defaults: Adam 1e-3, ReduceLROnPlateau 0.5, floor 1e-5)."""

    epochs: int = 20
    batch_size: int = 16
    crop: int = 128
    lr: float = 1e-3
    lr_factor: float = 0.5
    lr_patience: int = 2
    lr_min: float = 1e-5
    lr_schedule: str = "plateau"  # "plateau" (thesis: ReduceLROnPlateau on val loss) or "cosine" (per epoch to lr_min)
    weight_decay: float = 0.0  # > 0: AdamW's decoupled weight decay
    ema: float | None = None  # decay of an EMA of the weights, evaluated and checkpointed instead (e.g. 0.999)
    loss: str = "mse"  # "mse" (thesis), "huber_colorful" or "mse_colorful"
    colorful_weight: float = 1.0
    embed_dropout: float = 0.0  # dropout on the cached classifier embedding while training (0 = off)
    embed_per_crop: bool = False  # the classifier reads each training crop (not the cached whole photo)
    val_fraction: float = 0.1
    seed: int = 0
    workers: int = 0
    bf16: bool = False
    max_steps_per_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train config lr_schedule={self.lr_schedule!r}; expected one of "
                             f"{', '.join(map(repr, LR_SCHEDULES))}")
        if self.loss not in LOSSES:
            raise ValueError(f"train config loss={self.loss!r}; expected one of {', '.join(map(repr, LOSSES))}")
        if not 0.0 <= self.embed_dropout < 1.0:
            raise ValueError(f"train config embed_dropout={self.embed_dropout}; expected a rate in [0, 1)")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"train config ema={self.ema}; expected a decay in (0, 1), e.g. 0.999")


@dataclass(frozen=True)
class TemporalTrainConfig:
    """How `framecolor train-temporal` (training.temporal_loop.train_temporal) trains the ConvLSTM head;
    the command has one flag per field."""
    epochs: int = 10
    batch_size: int = 4
    length: int = 6  # frames per window (truncated back-propagation through time)
    crop: int = 128  # pixels, a multiple of 8 (crop // 8 feature cells)
    side: int = ColorizerConfig.working_size  # clips are cached with this short side (the working size)
    max_frames: int | None = 120  # frames per clip (from the start) whose features are cached
    lr: float = 3e-4
    temporal_weight: float = 1.0
    saturation_weight: float = 0.0  # matches each frame's mean chroma to the truth's (against greying)
    anchor_weight: float = 0.0  # 0: per-frame MSE to the truth; 1: to the image model's own prediction
    hidden_channels: int = 256
    train_decoder: bool = False
    bf16: bool = False  # bfloat16 autocast for the cached features and the training steps
    max_steps_per_epoch: int | None = None
    val_fraction: float = 0.15  # of the clips not held out: validation, which picks the best epoch
    holdout_fraction: float = 0.0  # clips held out by name for scoring the result; never read
    holdout_clips: str = ""  # comma-separated clip names held out as well (a cross-validation fold)
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.anchor_weight <= 1.0:
            raise ValueError(f"anchor_weight must be between 0 and 1, got {self.anchor_weight}")
        if self.anchor_weight and self.train_decoder:
            raise ValueError("anchor_weight needs the image model's decoder frozen (no train_decoder)")

    @property
    def holdout_names(self) -> list[str]:
        """Clip names from `holdout_clips`; a video file name stands for its clip (`a.mp4` -> `a`)."""
        names = [Path(n.strip()) for n in self.holdout_clips.split(",") if n.strip()]
        return [n.stem if n.suffix.lower() in VIDEO_SUFFIXES else n.name for n in names]
