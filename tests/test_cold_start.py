"""A cold start that respects the user's time: colouring a photo, loading the film model and importing
the film and web pipelines never import timm (1.8 s on 2 cores), torchvision, matplotlib, skimage or
torch._dynamo.
cv2 is imported: the CPU merge (color_cpu.py) needs its LUT, resize and Lab->RGB (about 0.03 s)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# torch._dynamo: 1.2 s, pulled in by torchvision.ops, torch.compile, or nn.init.normal_ on the meta device
HEAVY = ("timm", "torchvision", "matplotlib", "skimage", "torch._dynamo")

SCRIPT = """
import json, sys
heavy = lambda: sorted(h for h in sys.argv[3:] if any(m == h or m.startswith(h + ".") for m in sys.modules))
from framecolor.cli import main
code = main(["colorize", sys.argv[1], "-o", sys.argv[2], "--no-progress"])
after_photo = heavy()
import framecolor, framecolor.film.job, framecolor.web
from framecolor.config import VIDEO_MODEL
framecolor.load_colorizer(VIDEO_MODEL)
after_all = heavy()
print(json.dumps({"code": code, "after_photo": after_photo, "after_all": after_all}))
"""


def test_colorize_path_imports_no_heavy_package(tmp_path):
    out = tmp_path / "out.jpg"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "samples" / "chelsea_gray.jpg"), str(out), *HEAVY],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None) and out.stat().st_size > 0
    assert result["after_photo"] == [], f"framecolor colorize imported {result['after_photo']}"
    assert result["after_all"] == [], f"the film model and pipelines imported {result['after_all']}"


def test_help_and_usage_errors_import_no_torch():
    """Every subcommand's parser is built at each start: `framecolor --help` answers without torch (1.5 s)."""
    script = ("import sys\nfrom framecolor.cli import main\n"
              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "train-temporal" in run.stdout and run.stdout.strip().splitlines()[-1] == "False"
