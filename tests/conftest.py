"""Fixtures shared by the tests: the project's paths, one fast build of the
real site (which runs every example once, as the notebook a reader
downloads), a Python in which this project is not importable, and tiny
projects.

Nothing here writes into the checkout's own ``.cache/`` or ``_output/``:
the build caches into a temporary folder (``DOCS_CACHE_DIR``).
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

    def gallery_notebook(self, name):
        """The notebook the gallery page of example ``name`` shows."""
        return self.outputs(name).parent / "gallery" / f"{name}.ipynb"

    def values(self, name):
        return json.loads((self.outputs(name) / "values.json").read_text())


@pytest.fixture(scope="session")
def shared(tmp_path_factory, worker_id):
    """A folder all pytest-xdist workers of this run share, so that the
    site is built once and each example runs once, whichever worker asks."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def once(folder, make):
    """Run ``make(folder)`` once per test run, across workers: the first
    caller runs it under a lock, the others wait and reuse the result."""
    from filelock import FileLock

    folder.parent.mkdir(parents=True, exist_ok=True)
    done = folder.with_name(folder.name + ".done")
    failed = folder.with_name(folder.name + ".failed")
    with FileLock(str(folder) + ".lock"):
        if failed.exists():  # another worker tried: do not try again
            pytest.fail(failed.read_text())
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                make(folder)
            except BaseException as error:
                failed.write_text(f"{folder.name}: {error}"[-6000:])
                raise
            done.write_text("")
    return folder


@pytest.fixture(scope="session")
def build(shared):
    """The real site, built once per test run in fast mode with --strict,
    caching into a temporary folder."""
    def make(folder):
        result = mkdocs_build(folder / "site", env=fast_env(
            DOCS_CACHE_DIR=str(folder / "cache")))
        (folder / "log.txt").write_text(result.stderr)
        assert result.returncode == 0, result.stderr[-4000:]

    folder = once(shared / "build", make)
    return Build(folder / "site", folder / "cache")


@pytest.fixture(scope="session")
def site(build):
    return build.site


def reader_python(folder):
    """A Python in which this project is not importable: the venv's
    interpreter without its site initialisation (no editable install),
    with only its installed packages on the path. Returns the command and
    the environment."""
    import site as site_module

    packages = site_module.getsitepackages()[0]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", str(folder)),
           "PYTHONPATH": packages, "PYTHONDONTWRITEBYTECODE": "1",
           "DOCS_FAST": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}
    return [PYTHON, "-S"], env


def site_preload():
    """The ``preload`` modules of the site's mkdocs.yml."""
    found = re.findall(r"^      preload: \[([^\]]*)\]$",
                       (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert len(found) == 1, "mkdocs.yml: one preload list expected"
    return [name.strip() for name in found[0].split(",")]


@pytest.fixture(scope="session")
def reader(shared):
    folder = shared / "reader"
    folder.mkdir(exist_ok=True)
    return reader_python(folder)


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
    # The site's start_first names its own examples, which this one lacks;
    # its one example needs no torch (its kernels still fork from a server).
    config = re.sub(r"^      (start_first|preload): \[[^\]]*\]\n", "",
                    config, flags=re.M)
    assert "start_first" not in config and "preload" not in config
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


# Fixtures that build a site or run examples: tests that use one take
# seconds to minutes.
HEAVY = {"tiny", "slow_project", "reader"}


def pytest_collection_modifyitems(config, items):
    """The order that keeps both pytest-xdist workers busy. With
    ``--dist worksteal`` each worker starts with a contiguous half of this
    list and, once out of tests, takes from the end of the other's:

    1. one test of the built site: its worker builds the site first (a
       few minutes, its examples in parallel);
    2. the quick tests: the builder's half is mostly these;
    3. the tests that build tiny sites or run examples: the other worker
       runs them meanwhile;
    4. the other tests of the built site, which by then exists.

    (With the site built last, one worker sat idle through most of the
    build; with the tests in file order, the other worker ran out of quick
    tests and waited for the build.)"""
    def group(item):
        names = getattr(item, "fixturenames", ())
        if "build" in names:
            return 3
        return 2 if HEAVY & set(names) else 1

    first = next((item for item in items if group(item) == 3), None)
    items.sort(key=lambda item: 0 if item is first else group(item))
