"""Fixtures shared by the tests: one fast build of the real site (which
runs every example once, as the notebook a reader downloads), a Python in
which this project is not importable, tiny projects, and the order that
keeps both pytest-xdist workers busy. Shared helpers that are not
fixtures are in ``testkit.py``.

Tests that use the real site's build (the ``build`` or ``site`` fixture)
are marked ``site``: ``make quick`` (``pytest -m "not site"``) leaves them
out.
"""

import os
import re
import shutil

import pytest

from testkit import (
    ROOT,
    TINY_EXAMPLE,
    Build,
    fast_env,
    mkdocs_build,
    reader_python,
)


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


@pytest.fixture(scope="session")
def reader(shared):
    folder = shared / "reader"
    folder.mkdir(exist_ok=True)
    return reader_python(folder)


@pytest.fixture
def tiny(tmp_path):
    """A minimal project using the real mkdocs.yml and plugin."""
    config = (ROOT / "mkdocs.yml").read_text()
    nav = "nav:\n  - Home: index.md\n  - Gallery: gallery/index.md\n" \
          "  - Execution times: timings.md\n  - Claims: claims.md\n" \
          "  - PyTorch API index: api.md\n"
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

    for item in items:
        if "build" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.site)
    first = next((item for item in items if group(item) == 3), None)
    items.sort(key=lambda item: 0 if item is first else group(item))
