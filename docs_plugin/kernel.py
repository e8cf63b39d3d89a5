"""How one example's notebook is executed: the recipe every cached result
depends on.

The runner hands over the self-contained notebook (``standalone``); it
runs every cell in a new kernel (forked warm, ``forkserver``) whose
environment, working folder and import rules are set here. This module
and what it imports are part of every example's cache key (their code, not
their comments; ``keys.recipe_files``), so a change to the recipe re-runs
everything, and a change anywhere else in the build tool re-runs nothing.
"""

import atexit
import getpass
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import threading
from pathlib import Path

from docs_plugin import forkserver

# What the kernel sees, besides the settings it is given.
KERNEL_ENV = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ under watched folders
}


# The variables whose value differs from one example's kernel to the next;
# nothing reads them at import time, so a warm kernel (``forkserver``) may
# take them over from the stub.
PER_KERNEL = ("DOCS_OUTPUT_DIR", "DOCS_READS_FILE", "TMPDIR")


def compile_cache() -> str:
    """A value for TORCHINDUCTOR_CACHE_DIR, the same for every kernel.
    Importing torch._dynamo (torch.optim does, when the first optimizer is
    made) sets that variable to a folder in $TMPDIR if it is unset, and
    keeps the path; $TMPDIR differs from kernel to kernel, and a warm
    kernel imported torch._dynamo before it had one. That import makes the
    folder; no example compiles, so nothing is written in it. This is
    torch's own default for the build's process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid_{os.getuid()}"
    return os.path.abspath(os.path.join(tempfile.gettempdir(),
                                        f"torchinductor_{user}"))


def usable_home() -> Path | None:
    """The home folder, if it is there and can be written."""
    try:
        home = Path.home()
    except RuntimeError:  # no HOME, and no entry in the password file
        return None
    return home if home.is_dir() and os.access(home, os.W_OK) else None


def home_caches(base) -> dict[str, str]:
    """Where Matplotlib and IPython keep their caches, when the home
    folder cannot hold them (HOME missing or read-only, as for some
    service users): a folder in ``base``. (They would write them into the
    example's temporary folder, and the example would be blamed for it.)
    Empty when the home folder is usable."""
    if usable_home() is not None:
        return {}
    caches = {"MPLCONFIGDIR": Path(base) / "home" / "matplotlib",
              "IPYTHONDIR": Path(base) / "home" / "ipython"}
    for folder in caches.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {name: str(folder) for name, folder in caches.items()}


def warm_kernels(fast, threads, pythonpath, data_dir=None,
                 preload=(), caches=None) -> forkserver.Server:
    """A ``forkserver.Server`` for the kernels that ``kernel_env`` with
    these settings describes, importing ``preload`` once for all."""
    env = kernel_env(fast, threads, "", "", "", pythonpath, data_dir,
                     caches)
    # jupyter_client adds this one, and ipykernel reads it on import.
    env["JPY_PARENT_PID"] = str(os.getpid())
    return forkserver.Server({**os.environ, **env}, preload, PER_KERNEL)


def kernel_env(fast, threads, output_dir, reads_file, tmp_dir, pythonpath,
               data_dir=None, caches=None) -> dict[str, str]:
    """The environment variables of one example's kernel.

    ``threads`` limits torch's intra-op threads (None: as many as torch
    wants); the examples themselves never set it, so a reader who runs one
    gets their machine's default.
    """
    env = dict(KERNEL_ENV)
    env.update({
        "DOCS_FAST": "1" if fast else "0",
        "DOCS_OUTPUT_DIR": str(output_dir),
        "DOCS_READS_FILE": str(reads_file),
        "TMPDIR": str(tmp_dir),
        "TORCHINDUCTOR_CACHE_DIR": compile_cache(),
        "PYTHONPATH": os.pathsep.join(
            [str(pythonpath)] + [p for p in [os.environ.get("PYTHONPATH")]
                                 if p]),
    })
    if data_dir is not None:
        env["DOCS_DATA_DIR"] = str(data_dir)
    env.update(caches or {})  # home_caches
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


# Run in the kernel before the first cell (``exec_lines``). An audit hook
# notes every file the example opens for writing outside the allowed
# folders, and every file of the data folder it opens for reading
# (``data.py`` notes the files it reads; this catches those an example or
# a library opens itself).
_WATCH_FILES = """
import os, sys
def _watch(allowed={allowed!r}, log={log!r}, data={data!r}, reads={reads!r}):
    allowed = tuple(os.path.realpath(p) + os.sep for p in allowed)
    data = os.path.realpath(data) + os.sep if data else None
    def hook(event, args):
        if event != "open" or isinstance(args[0], int):
            return
        path, mode, flags = args
        if mode is not None:
            writing = any(c in mode for c in "wax+")
        else:
            writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        full = os.path.realpath(os.fsdecode(path))
        if writing and not (full + os.sep).startswith(allowed):
            note = log
        elif not writing and data and full.startswith(data):
            note = reads
        else:
            return
        with open(note, "a", encoding="utf-8") as f:
            f.write(full + "\\n")
    sys.addaudithook(hook)
_watch()
del _watch
"""


def writable_folders(allowed, work) -> list[str]:
    """The folders an example's kernel may write in: ``allowed`` (its
    output, temporary and data folders), its ``work`` folder (its working
    folder and the logs the kernel keeps), the compile cache, the
    caches Jupyter, IPython and Matplotlib keep in the home folder, and
    ``/dev`` (``/dev/null``, shared memory)."""
    home = usable_home()
    return [str(p) for p in allowed] + [
        str(work), compile_cache(), "/dev"] + ([] if home is None else [
            str(home / ".cache"), str(home / ".config" / "matplotlib"),
            str(home / ".ipython"), str(home / ".local" / "share" /
                                        "jupyter")])


def watch_files(allowed, log, data_dir=None, reads=None) -> str:
    """Code for ``exec_lines`` that makes the kernel note, in ``log``, every
    file it opens for writing outside ``allowed`` folders (Python-level
    writes only: the sandbox refuses the others), and in ``reads`` every
    file under ``data_dir`` it opens for reading."""
    return _WATCH_FILES.format(
        allowed=[str(p) for p in allowed], log=str(log),
        data=str(data_dir) if data_dir else "", reads=str(reads or ""))


# Also run before the first cell. The build executes an example's
# self-contained notebook (standalone.py), whose importer, inserted in front
# of this finder, serves the helper modules it carries. Any other module of
# the project found on disk would be one a reader's copy lacks: an error,
# raised where the example imports it.
_BUNDLE_ONLY = """
import importlib.abc, os, sys
class _BundleOnly(importlib.abc.MetaPathFinder):
    def __init__(self, root, installed):
        self.root = os.path.realpath(root) + os.sep
        self.installed = tuple(os.path.realpath(p) + os.sep
                               for p in installed)
    def find_spec(self, name, path=None, target=None):
        later = sys.meta_path[sys.meta_path.index(self) + 1:]
        for finder in later:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        origin = os.path.realpath(spec.origin) if spec.has_location else ""
        if origin.startswith(self.root) and \\
                not origin.startswith(self.installed):
            raise ImportError(
                f"{{name}} ({{os.path.relpath(origin, self.root)}}) is a "
                "module of this project that the example's notebook does "
                "not carry: a reader's copy could not import it. Import it "
                "with an import statement the build can see (in the "
                "example or a module it imports), not importlib.",
                name=name)
        return spec
sys.meta_path.insert(0, _BundleOnly({root!r}, {installed!r}))
del _BundleOnly
"""


def bundle_only(root) -> str:
    """Code for ``exec_lines``: importing a module of the project at
    ``root`` from disk fails, saying why (installed packages, even in a
    virtual environment inside ``root``, are fine)."""
    installed = sorted({sys.prefix, sys.base_prefix, sys.exec_prefix})
    return _BUNDLE_ONLY.format(root=str(root), installed=installed)


def stop_strays(output_dir) -> list[str]:
    """Kill the processes an example's kernel started that still run
    after it (in a session of their own, say, out of reach of its
    process group): those whose environment names ``output_dir`` as
    ``DOCS_OUTPUT_DIR``, which every process it starts inherits. Returns
    their command lines. (Linux; elsewhere, none are found.)"""
    needle = b"\0DOCS_OUTPUT_DIR=" + os.fsencode(str(output_dir)) + b"\0"
    stopped = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in b"\0" + (entry / "environ").read_bytes():
                continue
            command = (entry / "cmdline").read_bytes()
            os.kill(int(entry.name), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours
            continue
        stopped.append(command.replace(b"\0", b" ").decode(
            errors="replace").strip() or f"process {entry.name}")
    return stopped


def exec_lines(*codes: str) -> list[str]:
    """Kernel arguments that run ``codes`` before the first cell (not as
    cells: the notebook and its numbering stay as the reader sees them)."""
    return ["--IPKernelApp.exec_lines=" + json.dumps(list(codes))]


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def manager_class(server=None):
    """jupyter_client's asynchronous kernel manager, whose kernels fork
    warm from ``server`` (a running ``forkserver.Server``) if given. (The
    asynchronous one: nbclient then notices within a second that a kernel
    died, e.g. killed by ``Execution.stop``, instead of blocking on it.)"""
    from jupyter_client.manager import AsyncKernelManager

    if server is None:
        return AsyncKernelManager

    class WarmKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return server.stub(super().format_kernel_cmd(extra_arguments))

    return WarmKernelManager


class Execution:
    """One notebook run in one new kernel (started afresh, or forked warm
    from ``server``), which can be stopped from any thread (``stop``) and
    never outlives the build: the kernel (or its stub) polls its parent
    and exits with it, and its connection file (which holds the kernel's
    key) is deleted as soon as the kernel has read it.
    """

    def __init__(self, notebook, cwd, env, timeout, arguments=(),
                 server=None):
        self.notebook = notebook
        self.server = server  # a running forkserver.Server, or None
        self.arguments = list(arguments)
        self.cwd = cwd
        self.env = env
        self.timeout = timeout
        self.stopped = False
        self._lock = threading.Lock()
        self._manager = None

    def run(self):
        """Execute every cell; raises nbclient's errors."""
        from jupyter_core.utils import run_sync
        from nbclient import NotebookClient

        KernelManager = manager_class(self.server)
        if sys.platform.startswith("linux"):
            # Abstract Unix sockets: no TCP port, no socket file to leave
            # behind, and no network needed at all.
            manager = KernelManager(
                kernel_name="python3", transport="ipc",
                ip=f"@bn-kernel-{secrets.token_hex(8)}")
        else:
            manager = KernelManager(kernel_name="python3", transport="tcp",
                                    ip="127.0.0.1")
        manager.connection_file = os.path.join(self.cwd, ".kernel.json")
        with self._lock:
            if self.stopped:
                raise Stopped()
            self._manager = manager

        def forget_connection_file(**_):
            try:
                os.remove(manager.connection_file)
            except OSError:
                pass

        def started(**_):
            forget_connection_file()
            self._stop_if_asked()

        client = NotebookClient(
            self.notebook, km=manager, timeout=self.timeout,
            kernel_name="python3", allow_errors=False, record_timing=False,
            resources={"metadata": {"path": str(self.cwd)}},
            extra_arguments=self.arguments, on_notebook_start=started,
            on_cell_start=lambda **_: self._stop_if_asked(),
            on_cell_executed=_refuse_exit)
        try:
            client.execute(env={**os.environ, **self.env})
            if self.stopped:  # asked as the last cell ended
                raise Stopped()
        except Exception:
            if self.stopped:
                raise Stopped() from None
            raise
        finally:
            # nbclient unregisters its exit-time cleanup only when the
            # kernel got as far as running cells; one killed while it
            # starts would leave it to print a traceback at exit.
            atexit.unregister(client._cleanup_kernel)
            with self._lock:
                self._manager = None
            try:
                if manager.has_kernel:
                    run_sync(manager.shutdown_kernel)(now=True)
            except Exception:  # already dead: nothing to clean
                pass
            forget_connection_file()

    def _stop_if_asked(self):
        # A stop asked while the kernel started found no process to kill;
        # it is carried out before the first cell, or the next.
        if self.stopped:
            self.stop()

    def stop(self):
        """Kill the kernel now (safe from a signal handler or thread)."""
        with self._lock:
            self.stopped = True
            manager = self._manager
        process = getattr(getattr(manager, "provisioner", None),
                          "process", None)
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
            except OSError:
                pass


class Stopped(Exception):
    """The execution was stopped from outside (an interrupt)."""


class AskedExit(Exception):
    """A cell called IPython's ``exit()`` (or ``quit()``): in Jupyter the
    kernel then ends, and no later cell runs. ``args[0]``: its code."""


def _refuse_exit(cell, cell_index, execute_reply):
    """nbclient's ``on_cell_executed`` hook: stop at a cell that asked the
    kernel to end (IPython's ``exit()``), which nbclient ignores."""
    content = (execute_reply or {}).get("content", {})
    if any(p.get("source") == "ask_exit" for p in content.get("payload",
                                                               [])):
        raise AskedExit(cell.source)
