"""results/ holds what the docs cite: every file under results/ is named by README.md or a page under
docs/, by its path, by a folder above it, by the output prefix of the command that wrote it
(`-o results/bench_cold_start` writes .json and .md), or beside a cited file of the same stem (one
output in two formats). A result nobody cites is clutter: cite it or delete it."""
from __future__ import annotations

import fnmatch
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def expand_braces(text: str) -> list[str]:
    """`a.{json,md}` -> a.json, a.md; `fold{0,1}.json` -> fold0.json, fold1.json (as the shell does)."""
    parts = re.split(r"\{([^{}]*)\}", text)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def citations(texts: list[str]) -> set[str]:
    found = set()
    for text in texts:
        for m in re.finditer(r"results/[^\s)`'\"\]>;|]*", text):
            raw = m.group(0)
            if "{" in raw and "}" not in raw:  # a brace list cut at its first comma: take it whole
                raw = text[m.start():text.index("}", m.start()) + 1]
            found.update(c.rstrip(".:/,") for c in expand_braces(raw.rstrip(",")))
    return found


def cited(path: str, cites: set[str]) -> bool:
    stem = path.rsplit(".", 1)[0]
    return any(fnmatch.fnmatchcase(path, c) if "*" in c else
               path == c or path.startswith(c + "/") or path.startswith(c + ".") or c.rsplit(".", 1)[0] == stem
               for c in cites)


def uncited(root: Path) -> list[str]:
    docs = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    cites = citations([d.read_text() for d in docs if d.is_file()])
    files = sorted(p.relative_to(root).as_posix() for p in (root / "results").rglob("*") if p.is_file())
    return [f for f in files if not cited(f, cites)]


def test_every_result_file_is_cited_by_a_doc():
    left = uncited(ROOT)
    assert not left, f"{len(left)} files under results/ that no doc cites (cite or delete them): {left[:20]}"


def test_the_check_sees_an_uncited_file_and_each_way_of_citing(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("See [a](results/a.md) and `-o results/bench_x`, `results/h/*/history.json`.\n")
    (tmp_path / "docs" / "p.md").write_text("Folds: results/cv/fold{0,1}.json; all: (results/mnist/runs).\n"
                                            "Pair: [`results/v/t.{json,md}`](../results/v/t.md).\n")
    files = ["a.md", "a.json", "bench_x.json", "bench_x.md", "cv/fold0.json", "cv/fold1.json", "mnist/runs/r/m.json",
             "v/t.json", "v/t.md", "h/run/history.json", "cv/fold2.json", "stray.log", "mnist/other.json",
             "h/run/best.json"]
    for f in files:
        (tmp_path / "results" / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "results" / f).write_text("{}")
    assert uncited(tmp_path) == ["results/cv/fold2.json", "results/h/run/best.json", "results/mnist/other.json",
                                 "results/stray.log"]
