"""The example cache: its key follows every local module an example
imports, so editing a helper re-runs exactly the examples that use it."""

import re
import shutil
import textwrap

import pytest

from docs_plugin.examples import Example, ExampleError, discover
from docs_plugin.imports import local_imports
from docs_plugin.keys import cache_key, recipe_files
from docs_plugin.runner import Runner
from testkit import ROOT

VERSIONS = {"torch": "x"}  # fixed, so only file contents matter


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def tree(tmp_path):
    """Two examples; `a` uses helpers.one (which uses helpers.deep)."""
    write(tmp_path / "helpers" / "__init__.py", "")
    write(tmp_path / "helpers" / "one.py", "from helpers.deep import k\n")
    write(tmp_path / "helpers" / "deep.py", "k = 1\n")
    write(tmp_path / "helpers" / "two.py", "k = 2\n")
    write(tmp_path / "examples" / "a.py", """\
        # %% [markdown]
        # # A
        # %%
        import os, torch
        from helpers import one
        """)
    write(tmp_path / "examples" / "b.py", """\
        # %% [markdown]
        # # B
        # %%
        from helpers.two import k
        """)
    return tmp_path


def keys(root):
    return {e.name: cache_key(e, root, fast=True, versions=VERSIONS)
            for e in discover(root / "examples")}


def test_imports_are_followed_transitively(tree):
    found = local_imports(tree / "examples" / "a.py", [tree])
    assert [p.relative_to(tree).as_posix() for p in found] == [
        "helpers/__init__.py", "helpers/deep.py", "helpers/one.py"]


@pytest.mark.parametrize("edited, changed", [
    ("helpers/deep.py", {"a"}),       # imported through helpers/one.py
    ("helpers/one.py", {"a"}),
    ("helpers/two.py", {"b"}),
    ("helpers/__init__.py", {"a", "b"}),
    ("examples/b.py", {"b"}),
])
def test_editing_a_file_changes_exactly_its_importers(tree, edited, changed):
    before = keys(tree)
    with open(tree / edited, "a") as f:
        f.write("EDITED = True\n")
    after = keys(tree)
    assert {n for n in before if before[n] != after[n]} == changed


def test_key_covers_versions_and_mode(tree):
    example = Example(tree / "examples" / "a.py")
    key = cache_key(example, tree, fast=True, versions=VERSIONS)
    assert key != cache_key(example, tree, fast=True, versions={"torch": "y"})
    assert key != cache_key(example, tree, fast=False, versions=VERSIONS)


def test_comments_and_docstrings_change_no_key(tree):
    before = keys(tree)
    with open(tree / "helpers" / "deep.py", "a") as f:
        f.write('# a comment\n\n\ndef g():\n    """Doc."""\n    return k\n')
    changed = keys(tree)
    assert changed != before  # a new function is code
    text = (tree / "helpers" / "deep.py").read_text()
    (tree / "helpers" / "deep.py").write_text(
        text.replace('"""Doc."""', '"""Other words."""')
        .replace("# a comment", "# other words, same code"))
    assert keys(tree) == changed


def test_real_examples_follow_the_real_helpers(tmp_path):
    """In a copy of this project, change the code of the training loop:
    the examples that import it, directly or not, get new keys, the others
    keep theirs; editing only its docstrings changes nothing."""
    for folder in ("examples", "snippets", "docs_plugin"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    training = tmp_path / "snippets" / "support" / "training.py"
    before = keys(tmp_path)
    training.write_text(training.read_text().replace(
        "Train ``model`` with cross-entropy", "Train it"))
    assert keys(tmp_path) == before
    with open(training, "a") as f:
        f.write("EDITED = True\n")
    after = keys(tmp_path)
    importers = {
        e.name for e in discover(tmp_path / "examples")
        if training in local_imports(e.path, [tmp_path])}
    assert "lenet_placement" in importers  # only through experiments.lenet
    assert "bn_per_feature" not in importers
    assert {n for n in before if before[n] != after[n]} == importers


def test_keys_cover_how_examples_run_not_how_they_are_scheduled():
    """The recipe (kernel.py and what it imports, and standalone.py, which
    makes the notebook that runs) is in every key; the scheduling, caching
    and page code of the build tool is not."""
    files = {p.name for p in recipe_files()}
    assert {"kernel.py", "forkserver.py", "standalone.py", "syntax.py",
            "imports.py"} <= files
    assert not files & {"runner.py", "plugin.py", "settings.py", "keys.py",
                        "cache.py", "downloads.py", "pages.py"}


def test_runner_reuses_and_invalidates(tree):
    """A real run, a free second run, and a re-run after a helper edit."""
    write(tree / "examples" / "a.py", """\
        # %% [markdown]
        # # A
        # %%
        import os
        from pathlib import Path
        from helpers.one import k
        out = Path(os.environ["DOCS_OUTPUT_DIR"])
        (out / "k.txt").write_text(str(k))
        """)
    runner = Runner(tree, tree / ".cache", fast=True)
    example = Example(tree / "examples" / "a.py")
    first = runner.run(example)
    assert not first.cached and first.files == ["k.txt"]
    assert (first.outputs / "k.txt").read_text() == "1"
    assert runner.run(example).cached
    write(tree / "helpers" / "deep.py", "k = 5\n")
    third = runner.run(example)
    assert not third.cached
    assert (third.outputs / "k.txt").read_text() == "5"
    write(tree / "helpers" / "two.py", "k = 7\n")  # not imported by a
    assert runner.run(example).cached


def test_a_helpers_comment_refreshes_the_downloads_without_a_run(tree):
    """The key leaves comments and docstrings out, but the notebook a
    reader downloads carries the helpers' text: it is made again from the
    new text, and the result stands."""
    runner = Runner(tree, tree / ".cache", fast=True)
    example = Example(tree / "examples" / "a.py")
    first = runner.run(example)
    notebook = first.download_notebook.read_text()
    assert "k = 1" in notebook and "a new comment" not in notebook
    write(tree / "helpers" / "deep.py", "k = 1  # a new comment\n")
    second = runner.run(example)
    assert second.cached and second.entry == first.entry
    assert "a new comment" in second.download_notebook.read_text()
    assert "a new comment" in second.download_script.read_text()
    assert runner.run(example).cached  # and the record follows


def barrier_example(root, name, extra=""):
    """An example that writes a file when it starts, then waits (at most
    60 s) until every file in ``WAIT_FOR`` exists: two of these finish
    only if they run at the same time, whatever the machine's load."""
    write(root / "examples" / f"{name}.py", f"""\
        # %% [markdown]
        # # {name}
        # %%
        import os, time
        from pathlib import Path
        flags = Path(os.environ["FLAGS"])
        (flags / "{name}.started").write_text("")
        others = [flags / f for f in os.environ["WAIT_FOR"].split()]
        deadline = time.monotonic() + 60
        while not all(f.exists() for f in others):
            assert time.monotonic() < deadline, "ran alone"
            time.sleep(0.05)
        {extra}
        (flags / "{name}.ended").write_text("")
        out = Path(os.environ["DOCS_OUTPUT_DIR"])
        (out / "done.txt").write_text("")
        """)


def test_examples_run_in_parallel_and_timing_ones_alone(tmp_path,
                                                       monkeypatch):
    # the flags live in the data folder, which examples may write (they
    # run where nothing else can be written: sandbox.py)
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("FLAGS", str(flags))
    monkeypatch.setenv("WAIT_FOR", "p1.started p2.started")
    barrier_example(tmp_path, "p1")
    barrier_example(tmp_path, "p2")
    # `t` measures time: it must start after p1 and p2 have ended.
    barrier_example(tmp_path, "t", extra=(
        "assert (flags / 'p1.ended').exists() and "
        "(flags / 'p2.ended').exists(), 'ran beside another'\n        "
        "type('Report', (), {'timings': lambda self: 0})().timings()"))
    (flags / "t.started").write_text("")  # t waits for no one else
    examples = discover(tmp_path / "examples")
    assert [e.measures_time for e in examples] == [False, False, True]
    runs = Runner(tmp_path, tmp_path / ".cache", fast=True,
                  data_dir=flags).run_all(examples, jobs=2)
    assert list(runs) == ["p1", "p2", "t"]
    assert all(not run.cached for run in runs.values())


def test_a_failure_among_parallel_runs_names_the_example(tmp_path):
    write(tmp_path / "examples" / "good.py", """\
        # %% [markdown]
        # # good
        # %%
        x = 1
        """)
    write(tmp_path / "examples" / "bad.py", """\
        # %% [markdown]
        # # bad
        # %%
        raise RuntimeError('broken on purpose')
        """)
    runner = Runner(tmp_path, tmp_path / ".cache", fast=True)
    try:
        runs = runner.run_all(discover(tmp_path / "examples"), jobs=2)
    except ExampleError as error:
        assert re.search(r"(?s)bad\.py failed.*broken on purpose",
                         str(error)), str(error)
    else:  # say what happened instead
        pytest.fail(f"no error raised; runs: {runs}; errors: "
                    f"{runner.errors}")
    # the failed example leaves no cache record; the good one may (it ran)
    assert runner.cached(Example(tmp_path / "examples" / "bad.py")) is None


def test_cold_cache_starts_the_slow_examples_first(tree):
    """With no measured times, examples importing a configured slow
    module (here through helpers.one) start before the others."""
    for name in ("c", "d"):
        write(tree / "examples" / f"{name}.py", f"""\
            # %% [markdown]
            # # {name}
            # %%
            import os
            from pathlib import Path
            Path(os.environ["DOCS_OUTPUT_DIR"], "x").write_text("")
            """)
    order = []
    runner = Runner(tree, tree / ".cache", fast=True,
                    slow_imports=["helpers/deep.py"],
                    log=lambda m: m.startswith("running ") and order.append(
                        m.split()[1]))
    write(tree / "examples" / "a.py", """\
        # %% [markdown]
        # # A
        # %%
        from helpers import one
        """)
    write(tree / "examples" / "b.py", """\
        # %% [markdown]
        # # B
        # %%
        from helpers.two import k
        """)
    runner.run_all(discover(tree / "examples"), jobs=1)
    assert order[0] == "a.py"
    # Measured times decide from then on: the longest first.
    runner.cache.save_time("d", 100.0)
    order.clear()
    runner.run_all(discover(tree / "examples"), jobs=1, force=True)
    assert order[0] == "d.py"


def test_a_configured_order_comes_before_the_imports(tree):
    """start_first (from mkdocs.yml) orders a cold cache's examples."""
    for name in ("c", "d"):
        write(tree / "examples" / f"{name}.py", f"""\
            # %% [markdown]
            # # {name}
            # %%
            x = 1
            """)
    order = []
    runner = Runner(tree, tree / ".cache", fast=True,
                    slow_imports=["helpers/deep.py"], start_first=["d", "c"],
                    log=lambda m: m.startswith("running ") and order.append(
                        m.split()[1]))
    runner.run_all(discover(tree / "examples"), jobs=1)
    assert order[:3] == ["d.py", "c.py", "a.py"]
