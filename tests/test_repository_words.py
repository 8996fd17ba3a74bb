"""The repository speaks of the product only: no build-history words, no machine paths.

Scans every tracked text file except the data files listed here (the SMS corpus itself asks
its readers to text a keyword and a number, and synthetic sets imitate it), and shows each
pattern can fail. The planted examples are assembled from pieces (``_w``) so that this file
passes any scan for the same patterns.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: data, not prose: real or synthetic records
DATA_FILES = re.compile(r"\.(csv|csv\.gz|jsonl|tsv)$|_synthetic/[^/]+\.json$")
PATTERNS = {
    "a build stop": re.compile(r"\bstops? \d{1,3}\b", re.I),
    "an issue number": re.compile(r"\bissue #?\d{1,4}\b", re.I),
    "a borrowed device": re.compile(r"\bl[e]nt (g[p]u|m[a]chine)", re.I),
    "a fresh clone of a commit": re.compile(r"\bfresh clone of\b", re.I),
    "a commit hash": re.compile(r"\b(git_commit|commit [0-9a-f]{7,40})\b|\b[0-9a-f]{40}\b"),
    "an absolute path of a machine": re.compile(r"(?<![\w.~])/(work|root|home|Users|tmp/pytest)[/-]\w"),
}


def _w(*parts: str) -> str:
    return "".join(parts)


def findings(text: str) -> list[str]:
    return [name for name, pat in PATTERNS.items() if pat.search(text)]


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()  # it names the patterns it looks for
    return [ROOT / p for p in out.splitlines() if not DATA_FILES.search(p) and p != this]


def test_no_tracked_file_speaks_of_the_build_history_or_a_machine():
    bad = []
    for path in _tracked():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (weights, figures) and files deleted in the working tree
        for lineno, line in enumerate(text.splitlines(), 1):
            if found := findings(line):
                bad.append(f"{path.relative_to(ROOT)}:{lineno}: {', '.join(found)}")
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize(
    "planted, name",
    [
        (_w("Until st", "op 26 the rule was"), "a build stop"),
        (_w("as iss", "ue 8 asked"), "an issue number"),
        (_w("run on a le", "nt G", "PU mach", "ine"), "a borrowed device"),
        ("README: fresh clone of main", "a fresh clone of a commit"),
        ('"git_commit": "8bf7551"', "a commit hash"),
        ("see commit 8bf7551 for", "a commit hash"),
        (_w("weights at /", "work/main/privsynth/weights"), "an absolute path of a machine"),
    ],
)
def test_each_pattern_catches_what_it_is_for(planted, name):
    assert name in findings(planted)


def test_ordinary_words_pass():
    assert (
        findings(
            "stop the run after 3 rounds; the 64-hex sha256 of the weights "
            + "ab" * 32
            + "; privsynth/weights/bridge.safetensors; ~/.privsynth"
        )
        == []
    )
