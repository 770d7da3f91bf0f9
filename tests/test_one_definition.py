"""One value, one definition; one helper each; argparse only in the CLIs (issue 19). These read the
package source, so a second definition or a new copy of a literal fails here."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = sorted((ROOT / "framecolor").rglob("*.py"))
CLASSIFIERS = sorted((ROOT / "classifiers").rglob("*.py"))


def _hits(pattern: str, files=PACKAGE) -> list[str]:
    rx = re.compile(pattern, re.M)
    return [f"{p.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
            for p in files for text in [p.read_text()] for m in rx.finditer(text)]


@pytest.mark.parametrize("name", ["TEMPORAL_MODES", "PRECISIONS", "MODEL_NAMES", "PHOTO_MODEL", "VIDEO_MODEL",
                                  "LSTM_MODEL", "working_size"])
def test_each_value_is_defined_once(name):
    defs = _hits(rf"^\s*{name}\s*(:[^=\n]+)?=")
    assert len(defs) == 1, f"{name} defined at {defs}"
    assert defs[0].startswith("framecolor/config.py")


@pytest.mark.parametrize("literal", [
    r'"none",\s*"flow",\s*"lstm"',  # the temporal modes
    r'"fp32",\s*"bf16"',  # the precisions
    r'"(unet-lite2|koala-effnet-lite0(-photo|-lstm)?|basic-cnn)"',  # the model names
    r'(size|side)\s*(:\s*int\s*)?=\s*256\b',  # the working size as a default
])
def test_no_copy_of_a_value_outside_config(literal):
    hits = [h for h in _hits(literal) if not h.startswith("framecolor/config.py")]
    assert hits == [], f"copies of {literal} at {hits}: read it from framecolor.config"


def test_one_autocast_helper():
    defs = _hits(r"^\s*def \w*autocast\w*\(")
    assert defs and all(d.startswith("framecolor/precision.py") for d in defs), defs
    uses = [h for h in _hits(r"torch\.autocast\((?![^)]*enabled=False)") if not h.startswith("framecolor/precision.py")]
    assert uses == [], f"torch.autocast outside framecolor/precision.py: {uses}"


def test_one_atomic_write_helper():
    # (a film's finished work folder is moved whole, not written: the one rename of a folder)
    replaces = [h for h in _hits(r"os\.replace\((?!done, self\.dir\))") if not h.startswith("framecolor/io.py")]
    assert replaces == [], f"renames outside framecolor/io.atomic_output: {replaces}"


def test_argparse_only_in_the_two_clis():
    allowed = {"framecolor/cli.py", "classifiers/cli.py"}
    hits = [h for h in _hits(r"^\s*(import argparse|from argparse import)|\bNamespace\b", PACKAGE + CLASSIFIERS)
            if h.split(":")[0] not in allowed]
    assert hits == [], f"argparse outside the CLIs: {hits}"
