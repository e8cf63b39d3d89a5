"""Every fenced code block in docs/ is an include of a named section of a
tracked file under examples/ or snippets/ (so every shown line is tested)."""

import re
import subprocess
from pathlib import Path

from docs_plugin import syntax
from testkit import DOCS, ROOT

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def tracked_files(root=ROOT):
    out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True,
                         text=True, check=True)
    return set(out.stdout.split())


def code_blocks(lines):
    """``(first line number, [non-blank lines])`` of each fenced block."""
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start, body, i = i + 1, [], i + 1
        while i < len(lines) and not lines[i].strip().startswith(
                opening.group(1)):
            body.append(lines[i])
            i += 1
        i += 1
        yield start, [line for line in body if line.strip()]


def include_problem(line, root, tracked):
    """What is wrong with one line of a code block (None: a proper
    include of a named section of a tracked example or snippet)."""
    included = syntax.includes(line)
    if not included:
        return "code typed into Markdown"
    path, section = included[0].path, included[0].section
    if not path.startswith(("examples/", "snippets/")):
        return f"{path} is not in examples/ or snippets/"
    if path not in tracked:
        return f"{path} is not tracked by git"
    if not section:
        return (f"include a named section of {path}, not the whole file "
                "or lines")
    text = (Path(root) / path).read_text(encoding="utf-8")
    try:
        sections = syntax.sections(text, path)
    except syntax.SyntaxProblem as error:
        return str(error)
    if section not in sections:
        return f"no section '{section}' in {path}"
    return None


def violations(docs, root, tracked):
    """One message per code block that is not a proper include."""
    found = []
    for md in sorted(Path(docs).rglob("*.md")):
        lines = md.read_text(encoding="utf-8").splitlines()
        for start, body in code_blocks(lines):
            where = f"{md.relative_to(docs)}:{start}"
            if not body:
                found.append(f"{where}: empty code block")
            for line in body:
                problem = include_problem(line, root, tracked)
                if problem:
                    found.append(f"{where}: {problem}")
                if problem == "code typed into Markdown":
                    break
    return found


def test_every_code_block_is_a_tested_include():
    assert violations(DOCS, ROOT, tracked_files()) == []


def test_there_are_code_blocks_to_check():
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    paths = [i.path for i in syntax.includes(text)]
    assert sum(p.startswith(("examples/", "snippets/")) for p in paths) >= 3


def test_the_check_catches_each_kind_of_violation(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "x.py").write_text(
        "# --8<-- [start:ok]\nx = 1\n# --8<-- [end:ok]\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(
        "```python\nprint('typed')\n```\n\n"
        "```python\n--8<-- \"examples/x.py:ok\"\n```\n\n"
        "```python\n--8<-- \"examples/x.py:missing\"\n```\n\n"
        "```python\n--8<-- \"examples/x.py:1:2\"\n```\n\n"
        "```python\n--8<-- \"examples/x.py\"\n```\n\n"
        "```python\n--8<-- \"other/y.py:s\"\n```\n\n"
        "```python\n--8<-- \"examples/untracked.py:s\"\n```\n\n"
        "```\n```\n")
    found = violations(tmp_path / "docs", tmp_path, {"examples/x.py"})
    assert [f.split(": ", 1)[1] for f in found] == [
        "code typed into Markdown",
        "no section 'missing' in examples/x.py",
        "include a named section of examples/x.py, not the whole file or "
        "lines",
        "include a named section of examples/x.py, not the whole file or "
        "lines",
        "other/y.py is not in examples/ or snippets/",
        "examples/untracked.py is not tracked by git",
        "empty code block",
    ]
