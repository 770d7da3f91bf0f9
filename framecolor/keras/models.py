"""The thesis's colorizers in Keras 3: fusion (Appendix B.1) and basic CNN (Appendix B.2).

Two styles of one architecture (encoder 8 convs, fusion 1x1 conv, decoder 5 convs + 3 upsamplings):

``style="framecolor"`` (default) computes exactly what the PyTorch ``Colorizer`` of the config computes:
  input "l_input" (H, W, 1) is L* in [0, 100], rescaled inside by "l_norm" to L/50 - 1 (no l_norm
  when config.l_input == "raw"); with config.padding == "symmetric" each stride-2 conv is preceded
  by "encoder_pad{i}" (one zero pixel on every side, like torch's padding=1) and uses
  padding="valid", with "tf_same" it uses padding="same"; "fusion_tile" tiles the embedding to any
  H/8 x W/8.
``style="thesis"`` is the model as the thesis's training scripts build it: L* goes in unscaled
  (0..100), every conv uses padding="same" (TensorFlow pads stride-2 convs on the bottom/right
  only), the embedding is tiled by RepeatVector + Reshape for one fixed input size, and layers keep
  Keras's automatic names. It computes what a config with padding="tf_same", l_input="raw" computes.

Stable layer names of the framecolor style (``transfer.layer_map`` maps the weighted ones to torch):
  l_input, embedding_input, l_norm,
  encoder_conv1..8 (encoder_pad1/3/5 before the stride-2 ones),
  fusion_tile, fusion_concat, fusion_conv,            (fusion model only)
  decoder_conv1..5 (decoder_conv5 is the tanh a*b* head), decoder_up1..3.
Output: (H, W, 2) a*b*/128 in [-1, 1].
"""
from __future__ import annotations

from . import require_keras
from ..color import L_SCALE
from ..config import ColorizerConfig

keras = require_keras()
layers = keras.layers

STYLES = ("framecolor", "thesis")


@keras.saving.register_keras_serializable(package="framecolor")
class TileEmbedding(layers.Layer):
    """[(B, h, w, C) features, (B, E) embedding] -> (B, h, w, E): the embedding at every position."""

    def call(self, inputs):
        feats, emb = inputs
        shape = keras.ops.shape(feats)
        return keras.ops.broadcast_to(emb[:, None, None, :], (shape[0], shape[1], shape[2], emb.shape[-1]))

    def compute_output_shape(self, input_shapes):
        feats, emb = input_shapes
        return (*feats[:3], emb[-1])


def build_colorizer(config: ColorizerConfig, style: str = "framecolor",
                    size: tuple[int, int] | None = None) -> "keras.Model":
    """The Keras colorizer for `config` (fusion if config.embedder, else the basic CNN).

    `size` (H, W) fixes the input size; the thesis style's fusion model needs it (default: the
    config's working size, square), the framecolor style accepts any multiple of 8 without it.
    """
    if style not in STYLES:
        raise ValueError(f"unknown Keras model style {style!r}; known: {', '.join(STYLES)}")
    if config.temporal is not None:
        raise ValueError("the Keras bridge covers image colorizers only; this config has a temporal head")
    named = style == "framecolor"
    if size is None and not named and config.embedder is not None:
        size = (config.working_size, config.working_size)
    h, w = size if size is not None else (None, None)
    l_in = keras.Input((h, w, 1), name="l_input" if named else None)
    x = l_in
    if named and config.l_input == "normalized":
        x = layers.Rescaling(1 / L_SCALE, offset=-1.0, name="l_norm")(x)
    x = _encoder(x, config, named)
    inputs = [l_in]
    if config.embedder is not None:
        e_in = keras.Input((config.embed_dim,), name="embedding_input" if named else None)
        inputs.append(e_in)
        x = _fusion(x, e_in, config, named, size)
    out = _decoder(x, config, named)
    return keras.Model(inputs, out, name="koala_fusion" if config.embedder else "koala_basic_cnn")


def _encoder(x, config: ColorizerConfig, named: bool):
    for i, (filters, stride) in enumerate(config.encoder, start=1):
        padding = "same"
        if named and stride != 1 and config.padding == "symmetric":
            x = layers.ZeroPadding2D(1, name=f"encoder_pad{i}")(x)
            padding = "valid"
        x = layers.Conv2D(filters, 3, strides=stride, padding=padding, activation="relu",
                          name=f"encoder_conv{i}" if named else None)(x)
    return x


def _fusion(x, emb, config: ColorizerConfig, named: bool, size):
    if named:
        tiled = TileEmbedding(name="fusion_tile")([x, emb])
    else:
        h, w = size[0] // 8, size[1] // 8
        tiled = layers.RepeatVector(h * w)(emb)
        tiled = layers.Reshape((h, w, config.embed_dim))(tiled)
    x = layers.Concatenate(axis=-1, name="fusion_concat" if named else None)([x, tiled])
    return layers.Conv2D(config.fusion_channels, 1, padding="same", activation="relu",
                         name="fusion_conv" if named else None)(x)


def _decoder(x, config: ColorizerConfig, named: bool):
    convs = [i for i, s in enumerate(config.decoder) if s != "up"]
    n_conv = n_up = 0
    for i, s in enumerate(config.decoder):
        if s == "up":
            n_up += 1
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"decoder_up{n_up}" if named else None)(x)
            continue
        n_conv += 1
        act = "tanh" if i == convs[-1] else "relu"
        x = layers.Conv2D(int(s), 3, padding="same", activation=act,
                          name=f"decoder_conv{n_conv}" if named else None)(x)
    return x
