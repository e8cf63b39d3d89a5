"""Fixtures shared by the tests: the project's paths, one fast build of the
real site, and each example run once on its own.

Nothing here writes into the checkout's own ``.cache/`` or ``_output/``:
the build caches into a temporary folder (``DOCS_CACHE_DIR``) and every
standalone run writes into one (``DOCS_OUTPUT_DIR``).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docs_plugin import syntax

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
PYTHON = sys.executable


def fast_env(**extra):
    # One thread, as the build runs every example: float sums depend on
    # how a reduction is split between threads.
    env = dict(os.environ, DOCS_FAST="1", NO_MKDOCS_2_WARNING="1",
               PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    for name in ("DOCS_ONLY", "DOCS_RERUN", "DOCS_EXECUTE", "DOCS_OUTPUT_DIR",
                 "DOCS_CACHE_DIR"):
        env.pop(name, None)  # the tests choose these themselves
    env.update(extra)
    return env


def referenced_outputs(docs=DOCS):
    """{example: {"files": set, "values": set, "claims": set}} that the
    pages rely on."""
    refs = {}

    def entry(name):
        return refs.setdefault(name, {"files": set(), "values": set(),
                                      "claims": set()})

    examples = {p.stem for p in EXAMPLES.glob("*.py")}
    for md in docs.rglob("*.md"):
        text = md.read_text(encoding="utf-8")
        for name, item in syntax.figures(text):
            entry(name)["files"].add(item)
        for include in syntax.includes(text):
            first, _, rest = include.path.partition("/")
            if first in examples and rest:
                entry(first)["files"].add(rest)
        for placeholder in syntax.placeholders(text, str(md)):
            kind = "values" if placeholder.kind == "value" else "claims"
            entry(placeholder.example)[kind].add(placeholder.key)
    return refs


def mkdocs_build(site_dir, cwd=ROOT, env=None, config="mkdocs.yml",
                 timeout=900):
    """Run `mkdocs build --strict`; return the finished process."""
    return subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-f", config,
         "-d", str(site_dir)],
        cwd=cwd, env=env or fast_env(), capture_output=True, text=True,
        timeout=timeout)


class Build:
    """A finished build: its site folder and its cache."""

    def __init__(self, site, cache):
        self.site, self.cache = site, cache

    def outputs(self, name):
        """The folder holding what example ``name`` wrote in this build."""
        records = self.cache / "fast" / "records"
        record = json.loads((records / f"{name}.json").read_text())
        return self.cache / "fast" / "entries" / record["entry"] / "outputs"

    def values(self, name):
        return json.loads((self.outputs(name) / "values.json").read_text())


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """The real site, built once in fast mode with --strict, caching into
    a temporary folder."""
    site = tmp_path_factory.mktemp("site")
    cache = tmp_path_factory.mktemp("cache")
    result = mkdocs_build(site, env=fast_env(DOCS_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr[-4000:]
    return Build(site, cache)


@pytest.fixture(scope="session")
def site(build):
    return build.site


def run_example(name, out_dir, **env):
    """Run ``examples/<name>.py`` as a reader would, in fast mode."""
    return subprocess.run(
        [PYTHON, str(EXAMPLES / f"{name}.py")],
        cwd=ROOT, env=fast_env(DOCS_OUTPUT_DIR=str(out_dir), **env),
        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def standalone(tmp_path_factory):
    """``standalone(name)``: the folder example ``name`` wrote when run on
    its own; each example runs at most once per test session."""
    done = {}

    def get(name):
        if name not in done:
            folder = tmp_path_factory.mktemp(f"standalone-{name}")
            result = run_example(name, folder)
            assert result.returncode == 0, (
                f"examples/{name}.py failed:\n{result.stderr[-3000:]}")
            done[name] = folder
        return done[name]

    return get


TINY_EXAMPLE = """\
# %% [markdown]
# # Tiny
#
# A tiny example for the build tests.

# %%
import matplotlib.pyplot as plt
from snippets.support.report import Report

report = Report("tiny")
fig, ax = plt.subplots()
ax.plot(range(30), [i * i for i in range(30)])
report.figure(fig, "curve")
report.values(answer=42)
{extra}
"""


@pytest.fixture
def tiny(tmp_path):
    """A minimal project using the real mkdocs.yml and plugin."""
    config = (ROOT / "mkdocs.yml").read_text()
    nav = "nav:\n  - Home: index.md\n  - Gallery: gallery/index.md\n" \
          "  - Execution times: timings.md\n  - Claims: claims.md\n"
    config = re.sub(r"^nav:\n(?:  .*\n)+", nav, config, flags=re.M)
    (tmp_path / "mkdocs.yml").write_text(config)
    shutil.copytree(ROOT / "docs/assets", tmp_path / "docs/assets")
    os.symlink(ROOT / "node_modules", tmp_path / "node_modules")
    (tmp_path / "examples").mkdir()

    def build(page="# Home\n\nThe answer is {{ tiny.answer }}.\n", extra="",
              clean=True, **env):
        (tmp_path / "docs/index.md").write_text(page)
        (tmp_path / "examples/tiny.py").write_text(
            TINY_EXAMPLE.format(extra=extra))
        if clean:
            shutil.rmtree(tmp_path / "site", ignore_errors=True)
        result = mkdocs_build(tmp_path / "site", cwd=tmp_path,
                              config=str(tmp_path / "mkdocs.yml"),
                              env=fast_env(**env))
        return result, tmp_path / "site"

    build.root = tmp_path
    return build
