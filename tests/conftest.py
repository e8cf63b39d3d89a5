"""Fixtures shared by the tests: the project's paths and one fast build."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PYTHON = sys.executable

# What pages reference of an example's outputs.
FIGURE_REF = re.compile(r"generated/([\w-]+)/([\w.-]+)")
TABLE_REF = re.compile(r'^\s*-{1,2}8<-{1,2}\s+"([\w-]+)/([\w.-]+\.md)"', re.M)
VALUE_REF = re.compile(r"\{\{\s*([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\}\}")


def fast_env(**extra):
    env = dict(os.environ, DOCS_FAST="1", NO_MKDOCS_2_WARNING="1",
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def referenced_outputs(docs=DOCS):
    """{example: {"files": set, "values": set}} that the pages rely on."""
    refs = {}
    for md in docs.rglob("*.md"):
        text = md.read_text(encoding="utf-8")
        for pattern, kind in ((FIGURE_REF, "files"), (TABLE_REF, "files"),
                              (VALUE_REF, "values")):
            for name, item in pattern.findall(text):
                entry = refs.setdefault(name, {"files": set(), "values": set()})
                entry[kind].add(item)
    return refs


def mkdocs_build(site_dir, cwd=ROOT, env=None, config="mkdocs.yml"):
    """Run `mkdocs build --strict`; return the finished process."""
    return subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-f", config,
         "-d", str(site_dir)],
        cwd=cwd, env=env or fast_env(), capture_output=True, text=True,
        timeout=900)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The real site, built once in fast mode with --strict."""
    site_dir = tmp_path_factory.mktemp("site")
    result = mkdocs_build(site_dir)
    assert result.returncode == 0, result.stderr[-4000:]
    return site_dir
