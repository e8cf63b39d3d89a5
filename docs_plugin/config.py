"""The plugin's options (``plugins: - examples:`` in ``mkdocs.yml``), their
checks, and the wiring into MkDocs and the other plugins: where tables are
included from, where mkdocs-jupyter caches, which folders ``serve``
watches. ``start`` makes the build's state from them.
"""

import dataclasses
import importlib.machinery
import os
from pathlib import Path

from mkdocs.config import config_options as opt
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError

from docs_plugin import imports, settings
from docs_plugin.background import SIGNALS
from docs_plugin.examples import ExampleError, discover
from docs_plugin.runner import Runner
from docs_plugin.state import BuildState


class ExamplesConfig(Config):
    examples_dir = opt.Type(str, default="examples")
    cache_dir = opt.Type(str, default=".cache/examples")
    execute = opt.Type(bool, default=True)
    cell_timeout = opt.Type(int, default=900)
    katex_dir = opt.Type(str, default="node_modules/katex/dist")
    # With no measured times (a cold cache), examples importing one of
    # these (directly or not) are taken to be the long ones: they start
    # first, so that no long example starts last.
    slow_imports = opt.Type(list, default=[])
    # With no measured times, these examples (name patterns) start first,
    # in this order: the longest ones at full size.
    start_first = opt.Type(list, default=[])
    # Modules every example's kernel would import: imported once per build
    # by the process the kernels fork from (docs_plugin/forkserver.py).
    preload = opt.Type(list, default=[])
    # "Open in Colab" links (when repo_url is a GitHub repository) open the
    # notebooks from this branch, which the Pages workflow publishes.
    colab_branch = opt.Type(str, default="notebooks")


def start(options, config, root, log, serving=False,
          site_dir=None) -> BuildState:
    """The build's state: settings read, examples found, options checked,
    the runner made and the other plugins wired to its cache (and,
    serving, the server to the end of background runs). ``site_dir``: where
    the site is published (None: serving, in a temporary folder)."""
    imports.forget()
    try:
        chosen = settings.Settings.from_env()
    except settings.SettingError as error:
        raise PluginError(str(error)) from None
    for line in settings.unknown():
        log.warning(line)
    examples_dir = root / options.examples_dir
    try:
        examples = discover(examples_dir)
    except ExampleError as error:
        raise PluginError(str(error)) from None
    _check(options, chosen, [e.name for e in examples])
    cores = settings.cores()
    if chosen.jobs > cores:
        log.info(f"DOCS_JOBS={chosen.jobs} is more than this machine's "
                 f"{cores} cores: running {cores} examples at a time")
        chosen = dataclasses.replace(chosen, jobs=cores)
    cache_dir = chosen.cache_dir or root / options.cache_dir
    cache_name = ("DOCS_CACHE_DIR" if chosen.cache_dir else
                  "cache_dir in mkdocs.yml")
    data_name = ("DOCS_DATA_DIR" if chosen.data_dir else
                 "the data folder (data/, DOCS_DATA_DIR)")
    for folder, name in ((cache_dir, cache_name),
                         (chosen.data_dir or root / "data", data_name)):
        _outside_the_site(folder, name, config.docs_dir, site_dir)
    _usable(cache_dir, cache_name, write=True)
    # made now: the examples run where only folders that exist can be
    # written (sandbox.py), and the first to read the data writes it there
    _usable(chosen.data_dir or root / "data", data_name)
    imports.remember(Path(cache_dir) / "imports.json", log.info)
    runner = Runner(
        root, cache_dir, chosen.fast, options.cell_timeout, log=log.info,
        warn=log.warning, slow_imports=options.slow_imports,
        start_first=options.start_first, preload=options.preload,
        data_dir=chosen.data_dir or root / "data")
    _wire(config, runner, examples, [root, examples_dir])
    if serving:
        signals = runner.base / SIGNALS
        signals.mkdir(parents=True, exist_ok=True)
        config.watch.append(str(signals))
    return BuildState(root, options, chosen, examples, runner)


def _outside_the_site(folder, variable, docs_dir, site_dir):
    """A cache or data folder inside the docs folder would be published
    as pages (and the next build fails on them); inside the site folder,
    it would be lost at every build, which replaces that folder."""
    folder = Path(folder).resolve()
    places = [(docs_dir, "the docs folder", "MkDocs would publish its "
               "files as pages")]
    if site_dir is not None:
        places.append((site_dir, "the site folder", "every build replaces "
                       "that folder, and this one with it"))
    for place, what, why in places:
        place = Path(place).resolve()
        if folder == place or place in folder.parents:
            raise PluginError(
                f"{variable}={str(folder)!r} is inside {what} ({place}): "
                f"{why}; give a folder outside it")


def _usable(folder, variable, write=False):
    """Make ``folder`` if it is missing (and, with ``write``, check that
    a file can be written there): a folder that cannot be is one line
    naming it, not a traceback."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if write:
            probe = folder / f".probe-{os.getpid()}.tmp"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as error:
        raise PluginError(
            f"{variable}={str(folder)!r}: this folder cannot be made or "
            f"written ({error.strerror}); give one you can write") from None


def _check(options, chosen, names):
    """Every pattern matches an example; every preload module exists."""
    for variable, patterns in (("DOCS_ONLY", chosen.only),
                               ("DOCS_RERUN", chosen.rerun)):
        for pattern in patterns:
            if not any(settings.matches(n, [pattern]) for n in names):
                raise PluginError(f"{variable}={pattern!r} matches no "
                                  f"example in {options.examples_dir}/")
    for pattern in options.start_first:
        if not any(settings.matches(n, [pattern]) for n in names):
            raise PluginError(f"start_first in mkdocs.yml: {pattern!r} "
                              "matches no example (renamed? removed?)")
    if options.cell_timeout < 1:
        raise PluginError(
            f"cell_timeout in mkdocs.yml: {options.cell_timeout} is not "
            "valid: give the seconds a cell may run, at least 1 (a cell "
            "that hangs would otherwise hold the build forever)")
    for module in options.preload:
        if not module_exists(module):
            raise PluginError(f"preload in mkdocs.yml: no module "
                              f"{module!r} in this environment")


def module_exists(name: str) -> bool:
    """Whether module ``name`` can be imported, importing nothing
    (``importlib.util.find_spec("torch._dynamo")`` would import torch, a
    few seconds of every build that runs no example).

    >>> module_exists("json.decoder"), module_exists("json.nope")
    (True, False)
    """
    parts = name.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0])
    for part in parts[1:]:
        if spec is None or not spec.submodule_search_locations:
            return False
        spec = importlib.machinery.PathFinder.find_spec(
            part, spec.submodule_search_locations)
    return spec is not None


def _wire(config, runner, examples, search_paths):
    # Tables are included with pymdownx.snippets from the cache entries
    # (see pages.py).
    snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
    bases = snippets.get("base_path", ["."])
    bases = [bases] if isinstance(bases, str) else list(bases)
    snippets["base_path"] = bases + [str(runner.base / "entries")]
    # mkdocs-jupyter caches rendered notebooks; keep that with ours, per
    # mode, not in the checkout's .cache/.
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        jupyter.config["cache_dir"] = str(runner.base / "rendered")
        # (checked: rendered.py)
    # Watch the examples and every local file they import.
    watched = {search_paths[-1]}
    for example in examples:
        watched.update(p.parent for p in imports.local_imports(
            example.path, search_paths))
    for folder in sorted(str(f) for f in watched):
        if folder not in config.watch:
            config.watch.append(folder)
