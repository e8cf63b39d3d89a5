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
    with only its installed packages on the path. Returns the command, the
    environment, and a Jupyter folder with a kernel of that Python."""
    import site as site_module

    from docs_plugin.kernel import compile_cache

    packages = site_module.getsitepackages()[0]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", str(folder)),
           "PYTHONPATH": packages, "PYTHONDONTWRITEBYTECODE": "1",
           "DOCS_FAST": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MPLBACKEND": "Agg",
           # what the preloaded torch._dynamo sets (see kernel.compile_cache)
           "TORCHINDUCTOR_CACHE_DIR": compile_cache()}
    kernels = folder / "jupyter" / "kernels" / "reader"
    kernels.mkdir(parents=True, exist_ok=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [PYTHON, "-S", "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "env": {"PYTHONPATH": packages}, "display_name": "reader",
        "language": "python"}))
    return [PYTHON, "-S"], env, folder / "jupyter"


def reader_kernel_env(env):
    """The environment the reader's kernel gets from ``run_notebook``:
    ``env`` (its PYTHONPATH comes back through the kernel's spec) and what
    jupyter_client adds."""
    return {**env, "JPY_PARENT_PID": str(os.getpid())}


def run_notebook(path, env, jupyter_dir, timeout=600, server=None):
    """Execute the notebook at ``path`` in its own folder with the reader's
    kernel (forked warm from ``server`` if given, see
    docs_plugin/forkserver.py); raises on the first failing cell."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    from docs_plugin.kernel import manager_class

    notebook = nbformat.read(path, as_version=4)
    specs = KernelSpecManager(kernel_dirs=[str(jupyter_dir / "kernels")])
    manager = manager_class(server)(kernel_name="reader",
                                    kernel_spec_manager=specs)
    kernel_env = {k: v for k, v in env.items()
                  if k not in ("PYTHONPATH",)}
    try:
        NotebookClient(notebook, km=manager, timeout=timeout,
                       kernel_name="reader",
                       resources={"metadata": {"path": str(path.parent)}}
                       ).execute(env={**kernel_env, "PATH": env["PATH"]})
    finally:
        # nbclient leaves a kernel it did not start (km=) running.
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)
    nbformat.write(notebook, path)
    return notebook


def site_preload():
    """The ``preload`` modules of the site's mkdocs.yml."""
    found = re.findall(r"^      preload: \[([^\]]*)\]$",
                       (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert len(found) == 1, "mkdocs.yml: one preload list expected"
    return [name.strip() for name in found[0].split(",")]


@pytest.fixture(scope="session")
def reader(shared):
    return reader_python(shared / "reader")


@pytest.fixture(scope="session")
def reader_kernels(reader):
    """Warm reader kernels (one server per pytest worker): forked from a
    process of the reader's Python that imported the site's ``preload``
    modules once, with the environment a fresh reader kernel gets, which the
    server checks. (Fresh processes run the downloadable scripts in
    test_downloads.py, compared byte for byte with the build's.)"""
    from docs_plugin import forkserver

    command, env, _ = reader
    server = forkserver.Server(
        reader_kernel_env(dict(env, DOCS_DATA_DIR=str(ROOT / "data"))),
        preload=site_preload(), python=command)
    with server:
        yield server


@pytest.fixture(scope="session")
def standalone(shared, reader, reader_kernels):
    """``standalone(name)``: the folder example ``name`` wrote when its
    notebook, as the site offers it for download, ran alone in an empty
    folder with a Python in which this project is not importable. Each
    example runs at most once per test run."""
    from docs_plugin import downloads
    from docs_plugin.runner import Example

    _, env, jupyter_dir = reader

    def get(name):
        def make(folder):
            example = Example(EXAMPLES / f"{name}.py")
            notebook = folder / f"{name}.ipynb"
            notebook.write_text(downloads.notebook_text(example, ROOT))
            run_env = dict(env, DOCS_DATA_DIR=str(ROOT / "data"))
            run_notebook(notebook, run_env, jupyter_dir,
                         server=reader_kernels)
            # A kernel the server refused started afresh: correct, but
            # slow, and a sign that the two environments drifted apart.
            assert reader_kernels.notes() == "", reader_kernels.notes()

        folder = once(shared / "standalone" / name, make)
        return folder / "_output" / name

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
HEAVY = {"tiny", "slow_project", "standalone", "reader"}


def pytest_collection_modifyitems(config, items):
    """The order that keeps both pytest-xdist workers busy. With
    ``--dist worksteal`` each worker starts with a contiguous half of this
    list and, once out of tests, takes from the end of the other's:

    1. one test of the built site: its worker builds the site first (a
       few minutes, its examples in parallel);
    2. the quick tests: the builder's half is mostly these;
    3. the tests that build tiny sites or run examples: the other worker
       runs them meanwhile;
    4. the other tests of the built site, which by then exists;
    5. last, the comparison of the build with the reader's runs.

    (With the site built last, one worker sat idle through most of the
    build; with the tests in file order, the other worker ran out of quick
    tests and waited for the build.)"""
    def group(item):
        names = getattr(item, "fixturenames", ())
        if "build" in names:
            return 4 if "standalone" in names else 3
        return 2 if HEAVY & set(names) else 1

    first = next((item for item in items if group(item) == 3), None)
    items.sort(key=lambda item: 0 if item is first else group(item))
