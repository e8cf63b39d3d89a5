"""CI itself: the workflows pass zizmor's static checks (actions pinned to
a commit, least permissions, no persisted credentials), the site's
deployment installs only what building needs, and the suite runs offline
where it can."""

import errno
import os
import shutil
import socket
import subprocess

import pytest

from testkit import ROOT


def test_workflows_have_no_zizmor_findings():
    zizmor = shutil.which("zizmor") or os.path.join(
        os.path.dirname(os.sys.executable), "zizmor")
    result = subprocess.run([zizmor, "--offline", "--format", "plain",
                             str(ROOT / ".github/workflows")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_building_the_site_installs_no_browser():
    """`make build` (what the Pages workflow runs) needs the data, Python
    packages and KaTeX, not Chromium; `make test` needs Chromium too."""
    env = dict(os.environ, CHROMIUM="/nonexistent/chrome")
    build = subprocess.run(["make", "-n", "build"], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=True)
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert "chromium" not in build.stdout
    assert "apt-get install -y -qq chromium" in test.stdout
    pages = (ROOT / ".github/workflows/pages.yml").read_text()
    assert "run: make build" in pages and "make test" not in pages


def test_the_suite_runs_without_network():
    """`make test` runs the suite in a network namespace with loopback
    only, where one can be made; then nothing outside is reachable."""
    if os.environ.get("TESTS_OFFLINE") != "1":
        pytest.skip("not run through `make test` in a network namespace "
                    "(that needs root and unshare): the network was there")
    with socket.socket() as s:
        s.settimeout(5)
        code = s.connect_ex(("192.0.2.1", 80))  # TEST-NET-1, never routed
    assert code in (errno.ENETUNREACH, errno.EHOSTUNREACH), code
