"""framecolor without TensorFlow: import and every non-Keras command work; Keras commands say what to install.

Runs in a subprocess whose imports of tensorflow, keras and h5py fail, as in an install without the
keras extra. Needs no TensorFlow itself, so it runs everywhere.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCKER = '''
import sys
class _NoKeras:
    """Meta-path finder that makes the keras extra unimportable."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "h5py"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoKeras())
'''


def run_without_keras(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", BLOCKER + code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_and_every_non_keras_command_work_without_tensorflow(tmp_path):
    code = '''
import framecolor, framecolor.cli
from framecolor.cli import COMMANDS, main
assert "tensorflow" not in sys.modules and "keras" not in sys.modules
for name in COMMANDS:
    try:
        main([name, "--help"])
    except SystemExit as e:
        assert e.code == 0, (name, e.code)
    print("help ok", name)
try:
    import tensorflow
except ImportError:
    print("tensorflow blocked")
'''
    res = run_without_keras(code, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "tensorflow blocked" in res.stdout
    assert "help ok colorize" in res.stdout and "help ok convert" in res.stdout


def test_keras_commands_say_what_to_install(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    code = '''
from framecolor.cli import main
rc1 = main(["convert", "model.h5", "-o", "out.safetensors"])
rc2 = main(["convert-backbone", "model.h5", "-o", "irv2.safetensors"])
print("rc", rc1, rc2)
'''
    res = run_without_keras(code, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "rc 2 2" in res.stdout
    assert res.stderr.count("pip install 'framecolor[keras]'") == 2
    assert "Traceback" not in res.stderr


def test_importing_framecolor_loads_no_tensorflow():
    """Even where TensorFlow is installed, plain framecolor never imports it."""
    code = ("import sys, framecolor, framecolor.cli; framecolor.cli.build_parser(); "
            "import framecolor.inference, framecolor.models.registry; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') or m.startswith('framecolor.keras')]; "
            "assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
