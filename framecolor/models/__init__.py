"""Models: encoder, decoder, classifier embedders, temporal head, their composition and registry."""
from .colorizer import Colorizer
from .registry import COLORIZERS, DEFAULT_MODEL, VIDEO_MODEL, build_model, load_checkpoint, save_checkpoint

__all__ = ["Colorizer", "COLORIZERS", "DEFAULT_MODEL", "VIDEO_MODEL", "build_model", "load_checkpoint", "save_checkpoint"]
