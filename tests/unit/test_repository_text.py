"""The checkout's own text is whole: no merge-conflict markers left in code, docs or deploy files
(a merge once left ``<<<<<<< HEAD … >>>>>>> scale`` in docs/operations-guide.md, unseen until an
ops engineer read the page)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".js", ".css", ".html", ".toml", ".txt", ".yml", ".yaml", ".ini", ".cfg", ".json"}
SKIP_DIRS = {".venv", "node_modules", ".git", "__pycache__", ".ci/node", "build", "dist"}
MARKERS = ("<" * 7, ">" * 7)


def text_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if any(rel == d or rel.startswith(d + "/") or f"/{d}/" in f"/{rel}" for d in SKIP_DIRS):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name in {"Procfile", "console.env.example"}):
            out.append(path)
    return out


def conflict_lines(path: Path) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.startswith(MARKERS) and (len(line) == 7 or line[7] == " "):
            found.append(f"{path}:{number}: {line[:60]}")
    return found


def test_no_merge_conflict_markers_in_the_checkout(tmp_path) -> None:
    files = text_files()
    assert any(p.name == "README.md" for p in files) and len(files) > 100, len(files)
    assert [line for p in files for line in conflict_lines(p)] == []

    # The check has teeth: a planted conflict is found.
    planted = tmp_path / "x.md"
    planted.write_text("a\n" + "<" * 7 + " HEAD\nb\n" + "=" * 7 + "\nc\n" + ">" * 7 + " branch\n")
    assert len(conflict_lines(planted)) == 2
