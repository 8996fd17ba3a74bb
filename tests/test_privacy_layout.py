"""The privacy wing stays readable: no import cycle, and the member reads in one module."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "privsynth"


def _imports(path: Path) -> set[str]:
    """privsynth modules a file imports, at any depth (lazy imports inside functions count)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("privsynth"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("privsynth"))
    return out


def _graph(folder: Path, prefix: str) -> dict[str, set[str]]:
    mods = {f"{prefix}.{p.stem}": p for p in folder.glob("*.py") if p.stem != "__init__"}
    return {m: {d for d in _imports(p) if d in mods and d != m} for m, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_the_privacy_package_has_no_import_cycle():
    assert _cycle(_graph(PACKAGE / "privacy", "privsynth.privacy")) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None


def test_private_evolution_reads_members_only_through_the_mechanisms_module():
    """pe.py holds the algorithm; every exact statistic of the members comes from mechanisms."""
    source = (PACKAGE / "privacy" / "pe.py").read_text(encoding="utf-8")
    assert "secure_normal" not in source and "np.bincount(yc" not in source
    assert "mechanisms.noisy_class_counts" in source and "mechanisms.noisy_votes" in source
    judge = (PACKAGE / "privacy" / "judge.py").read_text(encoding="utf-8")
    assert "secure_normal" not in judge and "fit_judge(" in judge
