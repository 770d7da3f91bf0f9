"""framecolor's public names are the real functions and classes (signatures and docstrings of their
own), imported on first use; colorize_image takes a name, settings or a loaded colorizer."""
from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import cv2
import numpy as np
import pytest

import framecolor


@pytest.mark.parametrize("name", [n for n in framecolor.__all__ if n != "__version__"])
def test_each_public_name_is_its_modules_own_object(name):
    obj = getattr(framecolor, name)
    home = importlib.import_module(framecolor._HOMES[name])
    assert obj is getattr(home, name)
    assert obj.__doc__
    if inspect.isfunction(obj):
        kinds = {p.kind for p in inspect.signature(obj).parameters.values()}
        assert not kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}, name


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'colourise'"):
        framecolor.colourise


def test_import_framecolor_needs_no_torch():
    code = "import sys, framecolor; print('torch' in sys.modules, framecolor.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", framecolor.__version__]


def test_colorize_image_by_name_settings_or_colorizer(tmp_path, astronaut):
    src = tmp_path / "old.png"
    cv2.imwrite(str(src), cv2.cvtColor(cv2.resize(astronaut, (96, 64)), cv2.COLOR_RGB2GRAY))
    before = src.read_bytes()
    settings = framecolor.ColorizerSettings("basic-cnn", size=32, device="cpu")
    beside = framecolor.colorize_image(src, model=settings)
    assert beside == tmp_path / "old_color.png" and cv2.imread(str(beside)).shape == (64, 96, 3)
    engine = framecolor.load_colorizer("basic-cnn", device="cpu", size=32)
    out = framecolor.colorize_image(src, tmp_path / "x.jpg", model=engine)
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    assert np.array_equal(cv2.imread(str(beside)), cv2.imread(str(framecolor.colorize_image(src, tmp_path / "y.png", engine))))
    with pytest.raises(framecolor.ImageError, match="refusing to overwrite"):
        framecolor.colorize_image(src, src, engine)
    with pytest.raises(framecolor.ImageError, match="over the limit|pixels"):
        framecolor.colorize_image(src, tmp_path / "z.png", engine, max_pixels=100)
    assert src.read_bytes() == before and not (tmp_path / "z.png").exists()
