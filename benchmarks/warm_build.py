"""How long a warm build takes, beside mkdocs-jupyter's own cached build of
the same executed notebooks, and how long a prose edit takes to show under
``mkdocs serve``. A benchmark, not a test: it prints numbers and judges
nothing.

    .venv/bin/python benchmarks/warm_build.py            # fast mode
    .venv/bin/python benchmarks/warm_build.py --runs 5 --no-serve

1. Builds the site once (fast mode, into ``DOCS_CACHE_DIR``, default
   ``.cache/examples``), running whatever examples are not cached yet: from
   then on the build is warm.
2. Makes the peer: a Material site with only mkdocs-jupyter and search,
   whose pages are the 37 gallery notebooks of that build (``--peer
   light``, the default: as our build hands them to mkdocs-jupyter, figures
   as files; ``--peer executed``: as they ran, figures inside), and builds
   it once to fill mkdocs-jupyter's cache.
3. Builds each ``--runs`` times, in turn (ours, the peer, ours, ...), and
   prints each one's median and range of wall-clock seconds, the ratio,
   and the median of each phase of ours (``phases.py``: config, examples,
   pages, gallery, search, writing) so a regression shows where it came
   from.
4. Unless ``--no-serve``: starts ``mkdocs serve`` on a free loopback port,
   appends a sentence to ``docs/algorithm.md`` (restored afterwards) and
   times until the served page shows it, ``--runs`` times.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PEER_CONFIG = """\
site_name: peer
theme:
  name: material
  font: false
plugins:
  - search
  - mkdocs-jupyter:
      include: ["gallery/*.ipynb"]
      execute: false
      allow_errors: false
      ignore_h1_titles: true
      include_requirejs: false
      highlight_extra_classes: highlight
      cache_dir: {cache}
"""


def env(cache):
    return dict(os.environ, DOCS_FAST="1", NO_MKDOCS_2_WARNING="1",
                DOCS_CACHE_DIR=str(cache))


def build(command, cwd, environ):
    begin = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environ, text=True,
                            capture_output=True)
    seconds = time.perf_counter() - begin
    if result.returncode:
        sys.exit(f"build failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def make_peer(cache, folder, which):
    """The peer project: the gallery notebooks our last build rendered
    (``light``: figures as files), or as they ran (``executed``: figures
    inside, as base64)."""
    place = {"light": "light", "executed": "entries"}[which]
    notebooks = sorted((cache / "fast" / place).glob("*/gallery/*.ipynb"))
    if not notebooks:
        sys.exit(f"no rendered notebooks under {cache}/fast/light")
    (folder / "docs" / "gallery").mkdir(parents=True)
    (folder / "docs" / "index.md").write_text("# Peer\n")
    for notebook in notebooks:
        shutil.copy(notebook, folder / "docs" / "gallery" / notebook.name)
    (folder / "mkdocs.yml").write_text(
        PEER_CONFIG.format(cache=folder / "jupyter-cache"))
    return len(notebooks)


def summary(times):
    return (f"median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})")


def compare_builds(cache, runs, work, which):
    ours = [PYTHON, str(ROOT / "benchmarks" / "phases.py"), "build",
            "--strict", "-d", str(work / "site-ours")]
    peer = [PYTHON, "-m", "mkdocs", "build", "--strict", "-d",
            str(work / "site-peer")]
    print("warming: one build of the site (runs what is not cached) ...")
    build(ours, ROOT, env(cache))
    count = make_peer(cache, work / "peer", which)
    build(peer, work / "peer", env(cache))
    times = {"ours": [], "peer": []}
    phases = []
    for _ in range(runs):
        seconds, out = build(ours, ROOT, env(cache))
        times["ours"].append(seconds)
        phases.append(json.loads(out.strip().splitlines()[-1]))
        times["peer"].append(build(peer, work / "peer", env(cache))[0])
    print(f"warm build of the site:         {summary(times['ours'])}")
    print(f"mkdocs-jupyter alone, cached, {count} {which} notebooks: "
          f"{summary(times['peer'])}")
    ratios = [a / b for a, b in zip(times["ours"], times["peer"])]
    print(f"ours / peer, pair by pair:      median "
          f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f})")
    print("phases of ours (median s): " + ", ".join(
        f"{k} {statistics.median(p[k] for p in phases):.2f}"
        for k in phases[0]))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def time_serve_edits(cache, runs, work):
    page = ROOT / "docs" / "algorithm.md"
    original = page.read_bytes()
    port = free_port()
    url = f"http://127.0.0.1:{port}/algorithm/"
    log = open(work / "serve.log", "w")
    server = subprocess.Popen(
        [PYTHON, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env(cache), stdout=log, stderr=subprocess.STDOUT)
    times = []
    try:
        deadline = time.monotonic() + 600
        while "<html" not in fetch(url):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"mkdocs serve did not start: see {log.name}")
            time.sleep(0.2)
        for number in range(runs):
            time.sleep(2)  # let the watcher settle
            marker = f"Benchmark sentence {number} {time.time_ns()}."
            begin = time.perf_counter()
            page.write_bytes(original + f"\n{marker}\n".encode())
            while marker not in fetch(url):
                if time.perf_counter() - begin > 120:
                    sys.exit(f"the edit did not show in 120 s: {log.name}")
                time.sleep(0.05)
            times.append(time.perf_counter() - begin)
            page.write_bytes(original)
    finally:
        page.write_bytes(original)
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(f"prose edit to served page, mkdocs serve: {summary(times)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--peer", choices=["light", "executed"],
                        default="light", help="the peer's notebooks: as "
                        "our build renders them (default), or as they ran")
    args = parser.parse_args()
    cache = Path(os.environ.get("DOCS_CACHE_DIR") or
                 ROOT / ".cache" / "examples").resolve()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        compare_builds(cache, args.runs, work, args.peer)
        if not args.no_serve:
            time_serve_edits(cache, args.runs, work)


if __name__ == "__main__":
    main()
