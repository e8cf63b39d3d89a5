"""Every example runs standalone in fast mode and writes what pages need."""

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import EXAMPLES, PYTHON, ROOT, fast_env, referenced_outputs
from docs_plugin.runner import discover
from snippets.report import is_timing

EXAMPLE_NAMES = [e.name for e in discover(EXAMPLES)]


def run_example(name, out_dir):
    return subprocess.run(
        [PYTHON, str(EXAMPLES / f"{name}.py")],
        cwd=ROOT, env=fast_env(DOCS_OUTPUT_DIR=str(out_dir)),
        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each example run twice, standalone, into two fresh folders."""
    runs = {}
    for name in EXAMPLE_NAMES:
        folders = []
        for attempt in ("a", "b"):
            folder = tmp_path_factory.mktemp(f"{name}-{attempt}")
            result = run_example(name, folder)
            assert result.returncode == 0, (
                f"examples/{name}.py failed:\n{result.stderr[-3000:]}")
            folders.append(folder)
        runs[name] = folders
    return runs


def test_examples_exist():
    assert EXAMPLE_NAMES, "no examples found in examples/"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_writes_everything_the_pages_use(name, outputs):
    folder = outputs[name][0]
    refs = referenced_outputs().get(name, {"files": set(), "values": set()})
    figures = sorted(folder.glob("*.svg"))
    assert any(folder.iterdir()), f"{name} wrote nothing"
    for rel in refs["files"]:
        assert (folder / rel).is_file(), f"{name} did not write {rel}"
    for svg in figures:
        root = ET.parse(svg).getroot()  # a real, parseable SVG ...
        paths = root.findall(".//{http://www.w3.org/2000/svg}path")
        assert len(paths) > 10, f"{svg.name} has almost nothing drawn"
    for table in folder.glob("*.md"):
        lines = table.read_text().splitlines()
        assert len(lines) >= 3 and set(lines[1]) <= set("|-: "), table.name
    if refs["values"]:
        values = {}
        for filename in ("values.json", "timings.json"):
            if (folder / filename).is_file():
                values.update(json.loads((folder / filename).read_text()))
        missing = refs["values"] - set(values)
        assert not missing, f"pages use values {name} never writes: {missing}"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_is_deterministic(name, outputs):
    """Two runs write byte-identical figures, tables and values."""
    first, second = outputs[name]
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir())
    for filename in files:
        if is_timing(filename):
            continue  # wall-clock time; see test_cost_table_is_sane
        assert (first / filename).read_bytes() == \
            (second / filename).read_bytes(), f"{filename} differs"


def test_mlp_learns_in_fast_mode(outputs):
    """Both MLPs beat chance (10%) even after the fast run's few steps."""
    values = json.loads(
        (outputs["mlp_batchnorm"][0] / "values.json").read_text())
    for key in ("accuracy_bn", "accuracy_plain"):
        assert float(values[key].rstrip("%")) > 20, values
    assert values["steps"] == "60"
    table = (outputs["mlp_batchnorm"][0] / "results.md").read_text()
    assert re.search(r"\| with BN \| \d\.\d{3} \| \d+\.\d\d% \|", table)
    assert re.search(r"\| without BN \| \d\.\d{3} \| \d+\.\d\d% \|", table)


def test_bad_fast_value_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [PYTHON, str(EXAMPLES / "mlp_batchnorm.py")], cwd=ROOT,
        env=fast_env(DOCS_FAST="yes", DOCS_OUTPUT_DIR=str(tmp_path)),
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DOCS_FAST must be '0' or '1'" in result.stderr


def test_cost_table_is_sane(outputs):
    """The timing table has every implementation and positive times, and
    the fused nn.BatchNorm2d is the baseline (1.0x)."""
    table = (outputs["bn_cost"][0] / "timing_cost.md").read_text().splitlines()
    rows = [line.strip("| ").split(" | ") for line in table[2:]]
    assert [r[0] for r in rows] == ["nn.BatchNorm2d",
                                    "BatchNorm (from scratch)",
                                    "batch_norm_manual (hand backward)"]
    assert rows[0][2] == "1.0x"
    assert all(float(r[1]) > 0 and float(r[2].rstrip("x")) > 0 for r in rows)


def test_fold_timing_table_is_sane(outputs):
    table = (outputs["inference_fold"][0] / "timing_fold.md").read_text()
    rows = [line.strip("| ").split(" | ") for line in table.splitlines()[2:]]
    assert [r[0] for r in rows] == ["1", "16", "256"]
    for _, median, spread in rows:
        low, high = (float(v.rstrip("x")) for v in spread.split(" to "))
        assert 0 < low <= float(median.rstrip("x")) <= high
