"""The build under faults: each case is a small project built in fast mode
in a temporary folder, with a time limit. Nothing here may leave a kernel,
a temporary folder or a half-written site behind."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from docs_plugin import sandbox
from snippets.support.settings import VALUES
from testkit import PYTHON, ROOT, fast_env

SLOW = """\
# %% [markdown]
# # Slow
#
# Starts, says so, then waits.

# %%
import os, time
from pathlib import Path
Path(os.environ["DOCS_OUTPUT_DIR"], "started").write_text(str(os.getpid()))
time.sleep(float(os.environ.get("SLOW_SECONDS", "60")))
Path(os.environ["DOCS_OUTPUT_DIR"], "done.txt").write_text("done")
"""


def processes_under(folder):
    """PIDs of processes whose working directory is inside ``folder``
    (the kernels of that project's examples run in their cache entry)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(folder)) and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def entries(root):
    return sorted(p.name for p in (root / ".cache/examples/fast/entries")
                  .iterdir()) if (root / ".cache/examples/fast/entries") \
        .is_dir() else []


def start_build(tiny, flag_dir, **env):
    root = tiny.root
    env = fast_env(FLAG_DIR=str(flag_dir), **env)
    return subprocess.Popen(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-d",
         str(root / "site")], cwd=root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_start(root, process, timeout=120):
    """Wait until the slow example's kernel runs; return its PID."""
    deadline = time.monotonic() + timeout
    pattern = ".cache/examples/fast/entries/slow.*/outputs/started"
    while not list(root.glob(pattern)):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "slow never started"
        time.sleep(0.1)
    time.sleep(0.2)  # the PID is written
    return int(next(root.glob(pattern)).read_text())


@pytest.fixture
def slow_project(tiny, tmp_path_factory):
    """The tiny project plus a slow example; a flag folder it signals in."""
    (tiny.root / "examples/slow.py").write_text(SLOW)
    result, _ = tiny(SLOW_SECONDS="0")  # builds tiny (and slow) once
    assert result.returncode == 0, result.stderr[-3000:]
    cache = tiny.root / ".cache/examples/fast"
    (cache / "records/slow.json").unlink()  # slow is not cached
    for entry in (cache / "entries").glob("slow.*"):
        shutil.rmtree(entry)
    return tiny, tmp_path_factory.mktemp("flags")


# --- a failing example, a failed build ---------------------------------------

def test_a_failed_build_keeps_the_last_good_site(tiny):
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    good = (site / "index.html").read_text()
    result, _ = tiny(extra="x = 1\nraise RuntimeError('boom in tiny')",
                     clean=False)
    assert result.returncode != 0
    message = result.stderr
    assert "example" in message and "tiny.py failed" in message
    assert "raise RuntimeError('boom in tiny')" in message  # the cell
    assert "RuntimeError: boom in tiny" in message           # the error
    assert (site / "index.html").read_text() == good
    assert not list(site.parent.glob(".site.*")), "staging folder left"


def test_sys_exit_in_an_example_says_why_it_fails(tiny):
    """As a script it would end there with status 0; as the notebook the
    build runs and readers download, it is an error."""
    result, _ = tiny(extra="import sys\nsys.exit(0)")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "tiny.py calls sys.exit() (SystemExit: 0) in this cell:\n" \
        in result.stderr, result.stderr[-2000:]
    assert "let the example end on its own" in result.stderr


def test_a_huge_output_is_a_warning_until_fixed(tiny):
    extra = "print('x' * 1_500_000)"
    for _ in range(2):  # run, then from the cache: said at every build
        result, _ = tiny(extra=extra)
        assert result.returncode != 0  # a warning, in a strict build
        assert re.search(r"example tiny shows 1\.5 MB of output in cell "
                         r"\d+ \(import matplotlib", result.stderr), \
            result.stderr[-2000:]
    assert "running tiny.py" not in result.stderr
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_process_an_example_leaves_running_is_stopped_and_said(tiny):
    """A process in a session of its own is out of reach of the kernel's
    process group: it outlived the build, without a word."""
    extra = ("import subprocess\n"
             "stray = subprocess.Popen(['sleep', '600'], "
             "start_new_session=True)\n"
             "report.values(stray=stray.pid)")
    page = "# Home\n\nThe answer is {{ tiny.answer }}.\n"
    for _ in range(2):  # run, then from the cache: said at every build
        result, _ = tiny(page=page, extra=extra)
        assert result.returncode != 0  # a warning, in a strict build
        assert "example tiny left processes running after it ended, " \
            "which the build stopped: sleep 600." in result.stderr, \
            result.stderr[-2000:]
    pid = json.loads((outputs(tiny.root) / VALUES).read_text())["stray"]
    assert not Path(f"/proc/{pid}").exists() or \
        "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    result, _ = tiny(page=page)
    assert result.returncode == 0, result.stderr[-3000:]


def test_an_example_that_sets_the_thread_count_is_said(tiny):
    """Its gallery page's stamp said '1 thread' while it ran on 64."""
    extra = "import torch\ntorch.set_num_threads(64)"
    for _ in range(2):  # run, then from the cache: said at every build
        result, _ = tiny(extra=extra)
        assert result.returncode != 0  # a warning, in a strict build
        assert "example tiny calls torch.set_num_threads: the build runs " \
            "it on 1 thread, and its pages say so" in result.stderr
    result, _ = tiny(extra="import torch\ntorch.set_num_threads(1)")
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_cell_timeout_below_one_second_is_refused(tiny):
    """0 or -1 meant no limit at all: a cell that hangs held the build
    forever."""
    config = tiny.root / "mkdocs.yml"
    text = config.read_text()
    assert "  - examples:\n" in text
    config.write_text(text.replace("  - examples:\n",
                                   "  - examples:\n      cell_timeout: 0\n"))
    result, _ = tiny()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cell_timeout in mkdocs.yml: 0 is not valid" in result.stderr


def test_a_stop_while_the_kernel_starts_stops_it(tmp_path):
    """Ctrl-C as a kernel started found no process to kill: the example
    ran to its end, and its result was cached as if nothing happened."""
    import threading

    import nbformat

    from docs_plugin import kernel

    cell = "import time; time.sleep(20); open('ran', 'w').write('x')"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(cell)])
    run = kernel.Execution(notebook, tmp_path, {}, 60)

    def stop_at_start():
        while run._manager is None:  # the kernel is about to start
            time.sleep(0.001)
        run.stop()

    threading.Thread(target=stop_at_start, daemon=True).start()
    begin = time.monotonic()
    with pytest.raises(kernel.Stopped):
        run.run()
    assert time.monotonic() - begin < 15
    assert not (tmp_path / "ran").exists()


def test_exit_in_an_example_says_why_it_fails(tiny):
    """IPython's exit() asks Jupyter to end the kernel; nbclient ran the
    next cells anyway, and published a value a reader's run never made."""
    extra = "exit()\n\n# %%\nreport.values(late=7)"
    page = "# Home\n\nLate: {{ tiny.late }}.\n"
    result, _ = tiny(page=page, extra=extra)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "tiny.py calls exit() in this cell:\n" in result.stderr, \
        result.stderr[-2000:]
    assert "where exit() is the end of the kernel" in result.stderr


def test_a_kernel_that_dies_while_starting_leaves_no_traceback():
    """nbclient leaves an exit-time cleanup behind when the kernel dies
    before it answers (Ctrl-C as it starts): at exit it printed a
    traceback after the build's own line."""
    script = (
        "import nbformat, tempfile\n"
        "from docs_plugin import kernel\n"
        "nb = nbformat.v4.new_notebook(cells=["
        "nbformat.v4.new_code_cell('1')])\n"
        "run = kernel.Execution(nb, tempfile.mkdtemp(), {}, 60, "
        "kernel.exec_lines('import os; os._exit(3)'))\n"
        "try:\n"
        "    run.run()\n"
        "except RuntimeError as error:\n"
        "    print('failed:', error)\n")
    result = subprocess.run([PYTHON, "-c", script], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "failed: Kernel died" in result.stdout
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


# --- interruptions -----------------------------------------------------------

def test_ctrl_c_stops_running_kernels_at_once(slow_project):
    tiny, flags = slow_project
    build = start_build(tiny, flags)
    wait_for_start(tiny.root, build)
    start = time.monotonic()
    os.killpg(build.pid, signal.SIGINT)  # Ctrl-C: the whole process group
    _, stderr = build.communicate(timeout=60)
    assert time.monotonic() - start < 15, "the build waited for the cell"
    assert build.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "ZMQError" not in stderr
    errors = [line for line in stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "interrupted" in errors[0], stderr[-2000:]
    time.sleep(2)
    assert processes_under(tiny.root) == [], "a kernel outlived the build"
    assert not list(tiny.root.glob(".site.*")), "staging folder left"
    assert all(not e.startswith("slow.") for e in entries(tiny.root))
    # The next build runs exactly what did not finish.
    result = subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-d",
         str(tiny.root / "site")], cwd=tiny.root, capture_output=True,
        text=True, env=fast_env(FLAG_DIR=str(flags), SLOW_SECONDS="0"),
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running slow.py" in result.stderr
    assert "running tiny.py" not in result.stderr


def test_sigkill_of_the_build_leaves_no_kernel_behind(slow_project,
                                                     tmp_path_factory):
    tiny, flags = slow_project
    # its own temporary folder, to see what a killed build leaves there
    temporary = tmp_path_factory.mktemp("tmp")
    build = start_build(tiny, flags, TMPDIR=str(temporary))
    kernel = wait_for_start(tiny.root, build)
    os.kill(build.pid, signal.SIGKILL)
    build.communicate(timeout=30)
    deadline = time.monotonic() + 15  # kernels poll their parent each second
    while Path(f"/proc/{kernel}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{kernel}").exists(), "the kernel survived"
    assert processes_under(tiny.root) == []
    # No connection file (it holds the kernel's key) survives either.
    assert not list((tiny.root / ".cache").rglob("*kernel*.json"))
    # The next build cleans what the killed one left and runs slow again.
    result = subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-d",
         str(tiny.root / "site")], cwd=tiny.root, capture_output=True,
        text=True, env=fast_env(FLAG_DIR=str(flags), SLOW_SECONDS="0",
                                TMPDIR=str(temporary)),
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running slow.py" in result.stderr
    assert "running tiny.py" not in result.stderr
    assert sorted(e.split(".")[0] for e in entries(tiny.root)) == \
        ["slow", "tiny"]
    # nothing in the temporary folder, the checkout or the cache but
    # what a finished build keeps
    assert sorted(p.name for p in temporary.iterdir()) == []
    assert not [p for p in tiny.root.rglob("*")
                if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert not list(tiny.root.glob(".site.building-*"))


# --- a damaged cache ---------------------------------------------------------

def record(root, name="tiny"):
    path = root / f".cache/examples/fast/records/{name}.json"
    return path, json.loads(path.read_text())


def outputs(root, name="tiny"):
    _, data = record(root, name)
    return root / ".cache/examples/fast/entries" / data["entry"] / "outputs"


def truncate(path):
    path.write_bytes(path.read_bytes()[:50])


DAMAGES = [  # (what is done to the cache, the file the build names)
    (lambda root: truncate(outputs(root) / "curve.svg"), "curve.svg"),
    (lambda root: (outputs(root) / "curve.svg").unlink(), "curve.svg"),
    (lambda root: (outputs(root) / "values.json").unlink(), "values.json"),
    (lambda root: (outputs(root) / "t.md").write_text("| forged |\n"),
     "t.md"),
    (lambda root: truncate(record(root)[0]), "record"),
    (lambda root: (outputs(root).parent / "download.ipynb").write_text("{}"),
     "download.ipynb"),
]


def test_a_damaged_cache_is_noticed_and_healed(tiny):
    """Each damage in turn, to the cache the build before it healed."""
    extra = 'report.table("t", ["a"], [["1"]])'
    page = '# Home\n\n{{ tiny.answer }}\n\n--8<-- "tiny/t.md"\n'
    result, site = tiny(page=page, extra=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    for number, (damage, expected) in enumerate(DAMAGES):
        damage(tiny.root)
        result, site = tiny(page=page, extra=extra)
        case = f"damage {number} ({expected}): "
        assert result.returncode == 0, case + result.stderr[-3000:]
        assert "Traceback" not in result.stderr, case + result.stderr
        assert re.search(r"example tiny: .*" + re.escape(expected)
                         + r".*running it again", result.stderr), \
            case + result.stderr[-2000:]
        assert "running tiny.py" in result.stderr, case
        ET.parse(site / "generated/tiny/curve.svg")  # whole again
        html = (site / "index.html").read_text()
        assert "forged" not in html and "<td>1</td>" in html \
            and "42" in html, case


def test_damaged_copies_the_build_made_are_made_again(tiny):
    """What a warm build reads instead of making it again (the rendered
    gallery notebook, its figure and thumbnail, the zip, what it learnt of
    the Python files) is checked against its digest: damaged, it is made
    again, without running the example."""
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    good = {rel: (site / rel).read_bytes() for rel in (
        "gallery/tiny/index.html", "downloads/bn-examples.zip",
        "generated/tiny/thumbnail.png", "generated/tiny/notebook-1.png")}
    base = tiny.root / ".cache/examples/fast"
    light = next((base / "light").glob("tiny.*"))
    notebook = light / "gallery/tiny.ipynb"
    notebook.write_text(notebook.read_text().replace("A tiny example",
                                                     "A forged example"))
    truncate(light / "thumbnail.png")
    (light / "notebook-1.png").unlink()
    zipped = [p for p in (base / "derived").iterdir()
              if not p.name.endswith(".sha256")]
    assert len(zipped) == 1
    zipped[0].write_bytes(b"not a zip")
    (tiny.root / ".cache/examples/imports.json").write_text('{"memo": {')
    # mkdocs-jupyter's cache of the rendered page, kept in ours
    [page] = (base / "rendered").glob("*.json")
    cached = json.loads(page.read_text())
    cached["content"] = cached["content"].replace("A tiny example",
                                                  "A forged page")
    page.write_text(json.dumps(cached))
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "running tiny.py" not in result.stderr, result.stderr[-2000:]
    assert re.search(r"rendered notebook tiny\.\w+: .* making it again",
                     result.stderr), result.stderr[-2000:]
    assert re.search(r"rendered gallery page .*: changed since it was "
                     "written; rendering it again", result.stderr)
    assert f"{zipped[0]}: changed since it was made; making it again" in \
        result.stderr
    assert "imports.json: damaged or changed by hand; what the Python " \
        "files import is worked out again" in result.stderr
    for rel, data in good.items():
        assert (site / rel).read_bytes() == data, rel
    # What a kill while mkdocs-jupyter writes its cache leaves behind
    truncate(page)
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert (site / "gallery/tiny/index.html").read_bytes() == \
        good["gallery/tiny/index.html"]


def test_a_lock_that_is_not_a_file_is_made_again(tiny):
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    lock = tiny.root / ".cache/examples/fast/lock"
    lock.unlink()
    (lock / "inside").mkdir(parents=True)
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"{lock} was not the build's lock file; making it again" in \
        result.stderr
    assert lock.is_file()


# --- data, DOCS_EXECUTE=false ------------------------------------------------

def test_changed_data_reruns_the_examples_that_read_it(tiny, tmp_path):
    data = tmp_path / "labels.txt"
    data.write_text("0 1 2\n")
    extra = ("from snippets.support import data as d\n"
             f"d._note_reads([{str(data)!r}])\n"
             f"report.values(labels=open({str(data)!r}).read().split()[-1])")
    page = "# Home\n\nLast label: {{ tiny.labels }}.\n"
    result, site = tiny(page=page, extra=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    result, site = tiny(page=page, extra=extra)
    assert "running tiny.py" not in result.stderr  # unchanged: cached
    data.write_text("0 1 7\n")
    result, site = tiny(page=page, extra=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running tiny.py" in result.stderr
    assert "Last label: 7." in (site / "index.html").read_text()


def test_data_is_known_by_its_content_not_its_folder(tiny, tmp_path):
    """The same data in another DOCS_DATA_DIR re-runs nothing; a changed
    file there re-runs the example that read it, saying which file."""
    first, second = tmp_path / "data-a", tmp_path / "data-b"
    first.mkdir()
    (first / "labels.txt").write_text("0 1 2\n")
    extra = ("from snippets.support import data as d\n"
             "labels = d.data_root() / 'labels.txt'\n"
             "d._note_reads([labels])\n"
             "report.values(labels=labels.read_text().split()[-1])")
    page = "# Home\n\nLast label: {{ tiny.labels }}.\n"
    result, _ = tiny(page=page, extra=extra, DOCS_DATA_DIR=str(first))
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(first, second)
    result, site = tiny(page=page, extra=extra, DOCS_DATA_DIR=str(second))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running tiny.py" not in result.stderr, result.stderr[-2000:]
    (second / "labels.txt").write_text("0 1 9\n")
    result, site = tiny(page=page, extra=extra, DOCS_DATA_DIR=str(second))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"example tiny: data it read changed since it ran "
                     r"\([^)]*data-b/labels\.txt\); running it again",
                     result.stderr), result.stderr[-2000:]
    assert "Last label: 9." in (site / "index.html").read_text()


def test_data_an_example_opens_itself_is_tracked(tiny, tmp_path):
    """A data file read with plain ``open`` (not through data.py) is
    checked by content too: changed, its example runs again."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "labels.txt").write_text("0 1 2\n")
    extra = ("import os\n"
             "with open(os.path.join(os.environ['DOCS_DATA_DIR'], "
             "'labels.txt')) as f:\n"
             "    report.values(labels=f.read().split()[-1])")
    page = "# Home\n\nLast label: {{ tiny.labels }}.\n"
    result, _ = tiny(page=page, extra=extra, DOCS_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr[-3000:]
    (data / "labels.txt").write_text("0 1 5\n")
    result, site = tiny(page=page, extra=extra, DOCS_DATA_DIR=str(data))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"example tiny: data it read changed since it ran "
                     r"\([^)]*labels\.txt\); running it again",
                     result.stderr), result.stderr[-2000:]
    assert "Last label: 5." in (site / "index.html").read_text()


def test_serving_stale_results_is_loud(tiny):
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    # The example changes; with execution off its old result is all there
    # is: the strict build refuses to publish it, saying why.
    result, site = tiny(extra="report.values(other=1)",
                        DOCS_EXECUTE="false")
    assert result.returncode != 0
    assert "serving an out-of-date result" in result.stderr
    assert not (site / "index.html").exists()
    # Without strict (as `mkdocs serve` is), the page says so too.
    config = tiny.root / "mkdocs.yml"
    config.write_text(config.read_text().replace("strict: true",
                                                 "strict: false"))
    result = subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "-d", str(site)], cwd=tiny.root,
        env=fast_env(DOCS_EXECUTE="false"), capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "serving an out-of-date result" in result.stderr
    html = (site / "index.html").read_text()
    assert "Out-of-date results of tiny" in html


# --- two builds at once ------------------------------------------------------

def test_two_builds_at_once_in_one_checkout(slow_project):
    tiny, flags = slow_project
    first = start_build(tiny, flags, SLOW_SECONDS="4")
    wait_for_start(tiny.root, first)
    second = subprocess.Popen(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "-d",
         str(tiny.root / "site2")], cwd=tiny.root,
        env=fast_env(FLAG_DIR=str(flags), SLOW_SECONDS="4"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, first_err = first.communicate(timeout=300)
    _, second_err = second.communicate(timeout=300)
    assert first.returncode == 0, first_err[-3000:]
    assert second.returncode == 0, second_err[-3000:]
    assert "another build is using" in second_err  # it waited its turn
    assert "running slow.py" not in second_err  # and found it done
    for site in ("site", "site2"):
        assert (tiny.root / site / "generated/slow/done.txt").read_text() \
            == "done"
    _, data = record(tiny.root, "slow")
    assert data["files"] and len(entries(tiny.root)) == 2


# --- writes outside the output folder ----------------------------------------

def test_writes_outside_the_output_folder_are_reported(tiny):
    # A file left in its working folder: written, then reported
    extra = "open('relative.txt', 'w').write('x')"
    result, _ = tiny(extra=extra)
    assert result.returncode != 0  # a warning, in a strict build
    assert "example tiny wrote, or tried to write, outside its output " \
        "folder" in result.stderr
    assert "relative.txt" in result.stderr
    # Not a good result: the next build, from the cache, says it again
    # (a retry does not go green) ...
    result, _ = tiny(extra=extra)
    assert "running tiny.py" not in result.stderr
    assert result.returncode != 0
    assert "relative.txt" in result.stderr
    # ... until the example is fixed.
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outside its output folder" not in result.stderr


def test_a_home_folder_that_cannot_be_written_blames_no_example(tiny):
    """With HOME missing (as for some service users), Matplotlib and
    IPython wrote their caches into the example's temporary folder, and
    the example was reported for writing outside its folder."""
    result, site = tiny(HOME=str(tiny.root / "no-such-home"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "outside its output folder" not in result.stderr
    assert "The answer is 42." in (site / "index.html").read_text()
    assert not (tiny.root / "no-such-home").exists()


needs_landlock = pytest.mark.skipif(
    sandbox.landlock_abi() == 0,
    reason="this machine's Linux has no Landlock (the read-only sandbox)")


@needs_landlock
def test_a_write_outside_its_folders_fails_the_example(tiny, tmp_path):
    stray = tmp_path / "stray-outside.txt"
    page = tiny.root / "docs" / "stray.md"
    for target in (stray, page):
        extra = f"open({str(target)!r}, 'w').write('# x')"
        for _ in range(2):  # a failure is not cached: said at every build
            result, _ = tiny(extra=extra)
            assert result.returncode != 0
            assert "running tiny.py" in result.stderr
            assert "PermissionError" in result.stderr
            assert "It tried to write outside its output folder: " \
                f"{target}." in result.stderr
            assert not target.exists()


# Each way a program writes a file, tried by the example; it records what
# happened to each, and writes into its output folder last.
TRIES = """
import ctypes, os, subprocess, torch
from pathlib import Path
outside = Path({outside!r})
tries = {{}}
def attempt(name, write):
    try:
        write()
        tries[name] = "written"
    except (OSError, RuntimeError, subprocess.CalledProcessError):
        tries[name] = "refused"
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
def fopen():
    if not libc.fopen(str(outside / "c.txt").encode(), b"w"):
        raise OSError("fopen failed")
attempt("python_open", lambda: (outside / "open.txt").write_text("x"))
attempt("torch_save", lambda: torch.save(torch.ones(1), outside / "t.pt"))
attempt("c_library", fopen)
attempt("subprocess", lambda: subprocess.run(
    ["sh", "-c", f"echo x > {{outside}}/sh.txt"], check=True))
attempt("mkdir", lambda: os.mkdir(outside / "folder"))
attempt("remove", lambda: os.remove(outside / "keep.txt"))
attempt("rename", lambda: os.rename(outside / "keep.txt", outside / "m.txt"))
attempt("symlink", lambda: os.symlink("/etc", outside / "link"))
attempt("output_folder", lambda: report.values(done=1))
report.values(**tries)
"""


@needs_landlock
def test_the_sandbox_refuses_every_way_of_writing_outside(tiny, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    result, _ = tiny(extra=TRIES.format(outside=str(outside)))
    # Refused, every one; Python's open is also named
    tries = json.loads((outputs(tiny.root) / VALUES).read_text())
    ways = ("python_open", "torch_save", "c_library", "subprocess", "mkdir",
            "remove", "rename", "symlink")
    assert {way: tries[way] for way in ways} == dict.fromkeys(ways,
                                                            "refused")
    assert tries["output_folder"] == "written"
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "kept"
    assert result.returncode != 0
    assert f"{outside / 'open.txt'}" in result.stderr


# --- offline, determinism ----------------------------------------------------

def test_the_build_runs_without_any_network(tiny):
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root "
                    f"and unshare): {probe.stderr.decode().strip()}")
    result, _ = tiny()  # writes the project
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.rmtree(tiny.root / ".cache")  # so that the example runs again
    env = fast_env()
    result = subprocess.run(
        ["unshare", "-n", "--", PYTHON, "-m", "mkdocs", "build", "--strict",
         "-d", str(tiny.root / "site")], cwd=tiny.root, env=env,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running tiny.py" in result.stderr
    assert "The answer is 42." in (tiny.root / "site/index.html").read_text()


def test_two_clean_builds_are_identical(tiny):
    runs = []
    for _ in range(2):
        for cache in (tiny.root / ".cache",):
            subprocess.run(["rm", "-rf", str(cache)], check=True)
        result, site = tiny(extra='report.table("t", ["a"], [["1.5"]])')
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append({p.relative_to(site).as_posix(): p.read_bytes()
                     for p in (site / "generated").rglob("*")
                     if p.is_file()})
        runs[-1]["index.html"] = (site / "index.html").read_bytes()
    assert runs[0] == runs[1]


# --- a forgiving serve -------------------------------------------------------

def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return None, ""


def serve(root):
    """``mkdocs serve`` in ``root`` on a free port: (process, base URL)."""
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=root, env=fast_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    return server, f"http://127.0.0.1:{port}/"


def stop(server, root):
    """Stop ``mkdocs serve`` with Ctrl-C: it leaves no process behind."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
    server.communicate(timeout=60)
    time.sleep(2)
    assert processes_under(root) == []


def wait_for(server, url, text, seconds):
    """The page at ``url`` once it shows ``text``, and how long it took."""
    begin = time.monotonic()
    while True:
        _, page = fetch(url)
        if text in page:
            return page, time.monotonic() - begin
        assert time.monotonic() - begin < seconds, page[-2000:]
        assert server.poll() is None, server.communicate()[1][-3000:]
        time.sleep(0.2)


def test_serve_answers_while_an_example_runs(tiny):
    """Serving, an example runs outside the build: edited, its page keeps
    answering at once with its last numbers, marked as running again, and
    shows the new ones when the run ends."""
    slow = "import time; time.sleep(15)  # a long example"
    result, _ = tiny(extra=slow)
    assert result.returncode == 0, result.stderr[-3000:]
    example = tiny.root / "examples/tiny.py"
    example.write_text(example.read_text().replace(
        "report.values(answer=42)", "report.values(answer=43)"))
    server, base = serve(tiny.root)
    try:
        home, _ = wait_for(server, base, "The answer is 42.", 60)
        assert "Example tiny is running again" in home
        # ... and it answers within a second while the example runs
        begin = time.monotonic()
        status, home = fetch(base)
        assert status == 200 and time.monotonic() - begin < 1
        home, _ = wait_for(server, base, "The answer is 43.", 120)
        assert "is running" not in home
    finally:
        stop(server, tiny.root)


def test_serve_shows_a_failing_example_and_recovers(tiny):
    """While serving, a failing example is an error card on its pages, the
    server keeps serving, and fixing the example recovers without a
    restart; `mkdocs build --strict` fails on the same example."""
    broken = "raise RuntimeError('boom while serving')"
    result, _ = tiny(extra=broken)
    assert result.returncode != 0 and "boom while serving" in result.stderr
    server, base = serve(tiny.root)
    try:
        # It runs in the background (a card says so), then fails.
        home, _ = wait_for(server, base, "Example tiny failed", 120)
        assert "RuntimeError: boom while serving" in home
        status, gallery = fetch(base + "gallery/tiny/")
        assert status == 200 and "Example tiny failed" in gallery
        # Fix the example: the server rebuilds and the number is back.
        (tiny.root / "examples/tiny.py").write_text(
            (tiny.root / "examples/tiny.py").read_text().replace(broken, ""))
        home, _ = wait_for(server, base, "The answer is 42.", 180)
        assert "Example tiny failed" not in home
    finally:
        stop(server, tiny.root)


def test_serve_shows_a_page_error_and_keeps_answering(tiny):
    """A mistake in a page's syntax, made while serving, is shown on that
    page; the server keeps answering (MkDocs would hang every request
    until it is fixed), and fixing it recovers without a restart."""
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    index = tiny.root / "docs/index.md"
    good = index.read_text()
    server, base = serve(tiny.root)
    try:
        wait_for(server, base, "The answer is 42.", 60)
        mistakes = {"{{ tiny.nope }}": "index.md:7: no value tiny.nope",
                    '--8<-- "nosuch.md"':
                        "index.md:7: included file nosuch.md not found"}
        for mistake, said in mistakes.items():
            index.write_text(good + f"\nMore.\n\n{mistake}\n")
            home, _ = wait_for(server, base, said, 60)
            assert "This page has an error" in home
            begin = time.monotonic()
            status, gallery = fetch(base + "gallery/tiny/")
            assert status == 200 and time.monotonic() - begin < 1
        index.write_text(good)
        home, _ = wait_for(server, base, "The answer is 42.", 60)
        assert "This page has an error" not in home
    finally:
        stop(server, tiny.root)
