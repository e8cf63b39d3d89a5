"""The example helpers: tables, values, and the training loop's progress
bar (tqdm's, on a terminal only; none at all without tqdm)."""

import importlib
import json
import subprocess
import sys

import pytest

from snippets.support.report import Report
from snippets.support.rules import Below
from testkit import PYTHON, ROOT, fast_env

TRAIN_A_LITTLE = """
import torch
from snippets.support.training import train
x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
model = torch.nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
print(len(train(model, x, y, epochs=2, batch_size=16, optimizer=opt)))
"""


def test_training_is_silent_in_a_log():
    """Not on a terminal (a build log, a notebook): no progress bar."""
    result = subprocess.run([PYTHON, "-c", TRAIN_A_LITTLE], cwd=ROOT,
                            env=fast_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"
    assert result.stderr == ""


def test_training_draws_a_bar_on_a_terminal():
    """On a terminal (a pseudo-terminal of 80 columns here): tqdm's bar."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: train on the terminal
        os.chdir(ROOT)
        os.execve(PYTHON, [PYTHON, "-c", TRAIN_A_LITTLE], fast_env())
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    text = out.decode(errors="replace")
    assert "/8 [" in text and "\r" in text  # tqdm's bar, redrawn in place


def test_training_works_without_tqdm(monkeypatch):
    import snippets.support.training as training

    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails
    fallback = importlib.reload(training)
    try:
        import torch

        x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
        model = torch.nn.Linear(4, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        assert len(fallback.train(model, x, y, epochs=1, batch_size=8,
                                  optimizer=opt)) == 4
    finally:
        monkeypatch.delitem(sys.modules, "tqdm")
        importlib.reload(training)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), None, True,
                                   "nan", "None", ""])
def test_values_refuse_what_is_not_a_number_or_a_word(tmp_path, value):
    with pytest.raises(ValueError, match="loss is"):
        Report("x", tmp_path).values(loss=value)


def test_claims_need_a_name_and_a_rule(tmp_path):
    report = Report("x", tmp_path)
    rule = Below("largest error", 1.23456e-9, 1e-6)
    with pytest.raises(ValueError, match="not an identifier"):
        report.claim("two words", rule)
    with pytest.raises(TypeError, match="give a rule"):
        report.claim("bare", True)
    report.claim("ok", rule)
    assert json.loads((tmp_path / "claims.json").read_text()) == {
        "ok": {"holds": True, "rule": "largest error is below 1e-06",
               "evidence": [["largest error", "1.235e-09"],
                            ["bound", "1e-06"]],
               "check": {"rule": "Below", "args": {
                   "measure": "largest error", "value": 1.23456e-9,
                   "bound": 1e-6}},
               "weakness": None}}


def test_values_accumulate(tmp_path):
    report = Report("x", tmp_path)
    report.values(a=1)
    report.values(b=0.5)
    assert json.loads((tmp_path / "values.json").read_text()) == \
        {"a": "1", "b": "0.5"}


def test_table_rows_must_match_header(tmp_path):
    with pytest.raises(ValueError, match="does not match"):
        Report("x", tmp_path).table("t", ["a", "b"], [["1"]])
