"""Warm kernels (docs_plugin/forkserver.py): a kernel forked from the
build's server starts as a fresh one would, dies with the process
jupyter_client started, and falls back to a fresh start when it cannot be
the same. (That examples write the same bytes either way is
test_downloads.test_a_script_runs_where_it_lands: fresh processes against
the build's warm kernels.)"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from docs_plugin import kernel
from testkit import PYTHON, ROOT, site_preload

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="warm kernels need Linux")

PROBE = r'''
import os, sys, json, random, signal, tempfile, warnings
preloaded = "torch" in sys.modules
import torch, matplotlib
print(json.dumps({
    "preloaded": preloaded, "path": sys.path, "argv0": sys.argv[0],
    "cwd": os.getcwd(), "env": dict(os.environ), "flags": list(sys.flags),
    "bytecode": sys.dont_write_bytecode, "threads": torch.get_num_threads(),
    "interop": torch.get_num_interop_threads(),
    "tmp": tempfile.gettempdir(), "hash": hash("abc"),
    "backend": matplotlib.get_backend(),
    "signals": [str(signal.getsignal(s)) for s in
                (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)],
    "leader": os.getpgid(0) == os.getpid(),
    "main": type(sys.modules["__main__"]).__name__,
    "seed": torch.initial_seed(), "random": random.random(),
    # The first optimizer imports torch._dynamo (a warm kernel has it
    # already), which reads and sets TORCHINDUCTOR_CACHE_DIR and keeps it.
    "optimizer": type(torch.optim.SGD([torch.zeros(1)], lr=0.1)).__name__,
    "env_after": dict(os.environ),
    # after it, as the preloaded modules' filters are then in both (sympy,
    # which torch._dynamo imports, adds one)
    "warnings": sorted(map(str, warnings.filters)),
    "dynamo_cache": vars(sys.modules["torch._dynamo.package"].DynamoCache),
}))
'''


def run(code, folder, server=None, env=None, started=None):
    """Run one cell in a kernel (warm if ``server``); its printed JSON."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code)])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    env = env or kernel.kernel_env(True, 1, folder / "out", folder / "reads",
                                   folder / "tmp", ROOT)
    execution = kernel.Execution(notebook, folder, env, 120, server=server)
    if started is not None:
        started(execution)
    execution.run()
    return json.loads(notebook.cells[0].outputs[0]["text"])


def warm_server(**kwargs):
    """A server that preloads what the site's does (mkdocs.yml)."""
    return kernel.warm_kernels(True, 1, ROOT, preload=site_preload(),
                               **kwargs)


def test_a_warm_kernel_starts_as_a_fresh_one(tmp_path):
    fresh = run(PROBE, tmp_path / "kernel")
    with warm_server() as server:
        warm = run(PROBE, tmp_path / "kernel", server)
        other = run(PROBE, tmp_path / "kernel", server)
    assert server.notes() == ""  # no kernel refused, the server ran
    assert (fresh.pop("preloaded"), warm.pop("preloaded")) == (False, True)
    # Unseeded random streams: fresh entropy in every kernel, as in a new
    # process (not the server's state, shared by all its kernels).
    assert warm["seed"] != other["seed"]
    assert warm["random"] != other["random"]
    for state in (fresh, warm):
        del state["seed"], state["random"]
    # The same warning filters: only the place of ipykernel's own filter
    # in the list differs (it is added when the shell starts, after the
    # preloaded imports); no two filters match the same warning.
    assert warm == fresh


def test_killing_the_stub_ends_the_warm_kernel_and_its_children(tmp_path):
    """jupyter_client kills the process it started (the stub); the warm
    kernel and what it started must die with it, as a kernel's group."""
    pids = tmp_path / "pids.txt"
    code = (f"import os, subprocess, time\n"
            f"child = subprocess.Popen(['sleep', '120'])\n"
            f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} "
            f"{{child.pid}}')\n"
            f"time.sleep(120)\n")
    executions = []
    with warm_server() as server:
        worker = threading.Thread(target=lambda: pytest.raises(
            kernel.Stopped, run, code, tmp_path / "k", server,
            started=executions.append), daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        while not pids.is_file() or len(pids.read_text().split()) < 2:
            assert time.monotonic() < deadline, "the cell never started"
            time.sleep(0.1)
        kernel_pid, child_pid = map(int, pids.read_text().split())
        assert os.getppid() != kernel_pid
        executions[0].stop()  # SIGKILL to the stub only
        worker.join(30)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in (kernel_pid, child_pid)):
            assert time.monotonic() < deadline, "the warm kernel survived"
            time.sleep(0.1)


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()
    except OSError:
        return False
    return state[0] != "Z"  # a zombie has ended; its parent reaps it


def test_a_kernel_whose_environment_differs_starts_afresh(tmp_path):
    """A variable a preloaded module may have read at import differs: the
    kernel starts afresh, and the build's log says why."""
    with warm_server() as server:
        env = kernel.kernel_env(True, 1, tmp_path / "out", tmp_path / "r",
                                tmp_path / "k" / "tmp", ROOT)
        env["MPLBACKEND"] = "agg"
        state = run(PROBE, tmp_path / "k", server, env=env)
    assert state["preloaded"] is False
    assert state["backend"] == "agg"
    assert "refused a kernel" in server.notes()
    assert "MPLBACKEND" in server.notes()


def test_the_server_ends_with_the_build(tmp_path):
    """Killed (SIGKILL), the build cannot stop its server: the server
    notices its parent is gone and ends."""
    script = ("import sys, time\n"
              f"sys.path.insert(0, {str(ROOT)!r})\n"
              "from docs_plugin import forkserver\n"
              "server = forkserver.Server({'PATH': '/usr/bin:/bin'})\n"
              "server.__enter__()\n"
              "print(server._process.pid, flush=True)\n"
              "time.sleep(120)\n")
    build = subprocess.Popen([PYTHON, "-c", script], stdout=subprocess.PIPE,
                             text=True)
    server_pid = int(build.stdout.readline())
    assert alive(server_pid)
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    deadline = time.monotonic() + 10
    while alive(server_pid):
        assert time.monotonic() < deadline, "the server outlived the build"
        time.sleep(0.1)
