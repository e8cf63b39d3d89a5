"""The example helpers: progress bar on a terminal only, tables, values."""

import io
import json

import pytest

from snippets.report import Report, progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_a_terminal():
    stream = Terminal()
    assert list(progress(range(5), label="steps", stream=stream,
                         every=0)) == [0, 1, 2, 3, 4]
    out = stream.getvalue()
    assert "steps [" in out and out.rstrip().endswith("5/5")
    assert "\r" in out


def test_progress_is_silent_in_a_log():
    stream = io.StringIO()  # not a TTY: a build log, a notebook
    assert list(progress(range(5), stream=stream)) == [0, 1, 2, 3, 4]
    assert stream.getvalue() == ""


def test_values_reject_nan(tmp_path):
    with pytest.raises(ValueError, match="loss is not finite"):
        Report("x", tmp_path).values(loss=float("nan"))


def test_values_accumulate(tmp_path):
    report = Report("x", tmp_path)
    report.values(a=1)
    report.values(b=0.5)
    assert json.loads((tmp_path / "values.json").read_text()) == \
        {"a": "1", "b": "0.5"}


def test_table_rows_must_match_header(tmp_path):
    with pytest.raises(ValueError, match="does not match"):
        Report("x", tmp_path).table("t", ["a", "b"], [["1"]])
