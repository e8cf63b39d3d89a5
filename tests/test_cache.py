"""The example cache: its key follows every local module an example
imports, so editing a helper re-runs exactly the examples that use it."""

import shutil
import textwrap

import pytest

from conftest import EXAMPLES, ROOT
from docs_plugin.runner import (Example, ExampleError, Runner, cache_key,
                                discover, local_imports)

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
        f.write("# edited\n")
    after = keys(tree)
    assert {n for n in before if before[n] != after[n]} == changed


def test_key_covers_versions_and_mode(tree):
    example = Example(tree / "examples" / "a.py")
    key = cache_key(example, tree, fast=True, versions=VERSIONS)
    assert key != cache_key(example, tree, fast=True, versions={"torch": "y"})
    assert key != cache_key(example, tree, fast=False, versions=VERSIONS)


def test_real_examples_follow_the_real_helpers(tmp_path):
    """In a copy of this project, edit snippets/training.py: the examples
    that import it get new keys, the others keep theirs."""
    for folder in ("examples", "snippets", "docs_plugin"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    before = keys(tmp_path)
    with open(tmp_path / "snippets" / "training.py", "a") as f:
        f.write("# edited\n")
    after = keys(tmp_path)
    # Direct importers, and (one level deeper) importers of a snippets
    # module that imports the training loop, such as snippets.lenet.
    via = ["snippets.training", "snippets import training"] + [
        f"snippets.{p.stem}" for p in (ROOT / "snippets").glob("*.py")
        if "snippets.training" in p.read_text() and p.stem != "training"]
    importers = {p.stem for p in EXAMPLES.glob("*.py")
                 if any(name in p.read_text() for name in via)}
    assert importers, "no example imports snippets.training any more?"
    assert "lenet_placement" in importers  # only through snippets.lenet
    assert {n for n in before if before[n] != after[n]} == importers


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


def timed_example(root, name, extra=""):
    """An example that sleeps and writes when it started and ended."""
    write(root / "examples" / f"{name}.py", f"""\
        # %% [markdown]
        # # {name}
        # %%
        import os, time
        from pathlib import Path
        start = time.time()
        time.sleep(1.5)
        {extra}
        out = Path(os.environ["DOCS_OUTPUT_DIR"])
        (out / "span.txt").write_text(f"{{start}} {{time.time()}}")
        """)


def test_examples_run_in_parallel_and_timing_ones_alone(tmp_path):
    timed_example(tmp_path, "p1")
    timed_example(tmp_path, "p2")
    timed_example(tmp_path, "t", extra=(
        "type('Report', (), {'timings': lambda self: 0})().timings()"))
    examples = discover(tmp_path / "examples")
    assert [e.measures_time for e in examples] == [False, False, True]
    runs = Runner(tmp_path, tmp_path / ".cache", fast=True).run_all(
        examples, jobs=2)
    assert list(runs) == ["p1", "p2", "t"]
    spans = {name: [float(v) for v in
                    (run.outputs / "span.txt").read_text().split()]
             for name, run in runs.items()}

    def overlap(a, b):
        return min(spans[a][1], spans[b][1]) > max(spans[a][0], spans[b][0])

    assert overlap("p1", "p2")  # two at once on two jobs
    assert not overlap("t", "p1") and not overlap("t", "p2")


def test_a_failure_among_parallel_runs_names_the_example(tmp_path):
    timed_example(tmp_path, "good")
    timed_example(tmp_path, "bad", extra="raise RuntimeError('broken on')")
    runner = Runner(tmp_path, tmp_path / ".cache", fast=True)
    with pytest.raises(ExampleError, match=r"(?s)bad\.py failed.*broken on"):
        runner.run_all(discover(tmp_path / "examples"), jobs=2)
    # the failed example leaves no cache record; the good one may (it ran)
    assert runner.cached(Example(tmp_path / "examples" / "bad.py")) is None


def test_cold_cache_runs_training_examples_first():
    """With no recorded times, the examples that train (the long ones)
    are started first."""
    from docs_plugin.runner import trains

    assert trains(Example(EXAMPLES / "mlp_batchnorm.py"), ROOT)
    assert trains(Example(EXAMPLES / "lenet_placement.py"), ROOT)  # via lenet
    assert not trains(Example(EXAMPLES / "bn_per_feature.py"), ROOT)
