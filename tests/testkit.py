"""What the tests share besides fixtures: the project's paths, the
environment of a fast build, one build of a site and what it made, the
outputs the pages rely on, a Python in which this project is not
importable, and a tiny example. (The fixtures that use these are in
``conftest.py``.)

Nothing here writes into the checkout's own ``.cache/`` or ``_output/``:
builds cache into a temporary folder (``DOCS_CACHE_DIR``).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from docs_plugin import syntax
from snippets.support.settings import VALUES

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
        return json.loads((self.outputs(name) / VALUES).read_text())


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




def section(path, name):
    """The code of section ``name`` of the file at ``path``, as a page
    includes it."""
    text = Path(path).read_text(encoding="utf-8")
    first, last = syntax.sections(text, str(path))[name]
    return "\n".join(text.splitlines()[first - 1:last]) + "\n"
