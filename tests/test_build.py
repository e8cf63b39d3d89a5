"""`mkdocs build --strict` of the real site in fast mode, and the ways a
build must fail loudly instead of publishing something wrong."""

import json
import re

import pytest

from docs_plugin import syntax
from docs_plugin.pages import shows_as_text
from snippets.support.settings import TIMINGS, VALUES
from testkit import ROOT, fast_env, mkdocs_build

PAGES = ["index.html", "algorithm/index.html", "experiments/index.html",
         "exercises/index.html", "gallery/index.html",
         "gallery/mlp_batchnorm/index.html", "timings/index.html"]


def html_pages(site):
    return {p.relative_to(site).as_posix(): p.read_text(encoding="utf-8")
            for p in site.rglob("*.html")}


def test_site_has_every_page_and_download(site):
    for page in PAGES:
        assert (site / page).is_file(), page
    notebook = json.loads((site / "downloads/mlp_batchnorm.ipynb").read_text())
    sources = ["".join(c["source"]) for c in notebook["cells"]]
    assert any("make_mlp" in s for s in sources)
    assert not any("--8<--" in s for s in sources)
    script = (site / "downloads/mlp_batchnorm.py").read_text()
    assert "def make_mlp" in script and "--8<--" not in script


def test_pages_show_the_generated_numbers(build):
    values = build.values("mlp_batchnorm")
    site = build.site
    home = (site / "index.html").read_text()
    for key in ("loss_bn", "loss_plain", "accuracy_bn", "accuracy_plain"):
        assert f"{values[key]}" in home, key
    assert "<table>" in home and values["accuracy_bn"] in \
        home[home.index("<table>"):home.index("</table>")]
    assert (site / "generated/mlp_batchnorm/loss_curves.svg").is_file()


def test_experiment_pages_show_their_runs(build):
    values, site = build.values, build.site
    experiments = (site / "experiments/index.html").read_text()
    exercises = (site / "exercises/index.html").read_text()
    sweep = values("lenet_learning_rate")
    for page in (experiments, exercises):
        assert sweep["trained_with"] in page
        assert sweep["trained_without"] in page
    assert values("lenet_bias")["params_with"] in exercises
    assert values("lenet_lite")["mean_loss_min"] in experiments
    for figure in ("lenet_batchnorm/curves.svg",
                   "lenet_batchnorm/gamma_beta.svg",
                   "lenet_learning_rate/learning_rates.svg",
                   "lenet_placement/placement.svg", "lenet_lite/lite.svg",
                   "lenet_dropout/dropout.svg"):
        assert f"generated/{figure}" in experiments, figure
        assert (site / "generated" / figure).is_file(), figure
    # Each of the seven exercises has a folded answer.
    assert exercises.count('<details class="success"') == 7


def test_nothing_unfinished_or_online_is_published(site):
    for name, html in html_pages(site).items():
        assert syntax.leftovers(html) == [], f"page syntax left in {name}"
        # Code blocks are included from tested files and may show a doctest's
        # expected traceback; an executed cell's error would be an output.
        prose = re.sub(r'<div class="highlight"><pre>.*?</pre></div>', "",
                       html, flags=re.S)
        assert "Traceback" not in prose, f"traceback published in {name}"
        # Offline: no script, stylesheet, font or image from another host.
        remote = re.findall(
            r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', html)
        assert not remote, f"{name} loads {remote}"
        for cdn in ("cdnjs", "jsdelivr", "unpkg", "googleapis", "mathjax"):
            assert cdn not in html.lower(), f"{name} mentions {cdn}"


def test_gallery_page_shows_code_and_output(site):
    html = (site / "gallery/mlp_batchnorm/index.html").read_text()
    assert "make_mlp" in html
    # the figure, as executed, is a file next to the page
    assert 'src="../../generated/mlp_batchnorm/notebook-1.png"' in html
    assert (site / "generated/mlp_batchnorm/notebook-1.png").is_file()
    assert 'href="../../downloads/mlp_batchnorm.ipynb"' in html


def test_gallery_pages_show_nothing_of_the_build_machine(build):
    """No cell output shows a path of the build (a cache folder, the
    checkout) or an object's address: it would differ from build to build
    and mean nothing to a reader."""
    leaks = re.compile("|".join([re.escape(str(build.cache)),
                                 re.escape(str(ROOT)), "PosixPath\\(",
                                 " at 0x[0-9a-f]+"]))
    for page in sorted((build.site / "gallery").glob("*/index.html")):
        found = leaks.search(page.read_text())
        assert found is None, f"{page.parent.name}: {found.group()}"


def test_a_warm_build_writes_the_cold_builds_site(build, tmp_path):
    """Built again from its cache, with nothing to run, the site is the
    same, byte for byte, but for the execution-times page (which says
    what ran) and its text in the search index."""
    result = mkdocs_build(tmp_path / "site", env=fast_env(
        DOCS_CACHE_DIR=str(build.cache)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not re.search(r"INFO +-  running \w+\.py", result.stderr)
    warm, cold = tmp_path / "site", build.site
    files = sorted(p.relative_to(cold).as_posix() for p in cold.rglob("*")
                   if p.is_file())
    assert files == sorted(p.relative_to(warm).as_posix()
                           for p in warm.rglob("*") if p.is_file())
    differ = [f for f in files
              if (cold / f).read_bytes() != (warm / f).read_bytes()]
    assert differ == ["search/search_index.json", "timings/index.html"]
    index = [{d["location"]: d for d in json.loads(
        (site / "search/search_index.json").read_text())["docs"]}
        for site in (cold, warm)]
    assert [k for k in index[0] if index[0][k] != index[1].get(k)] == [
        k for k in index[0] if k.startswith("timings/")]


def test_every_claim_mark_links_to_its_own_row(site):
    """Each statement has its row and anchor on the claims page (a claim
    stated on two pages has two), and each mark links to its own."""
    claims = (site / "claims/index.html").read_text()
    rows = re.findall(r'id="(claim-[^"]+)"', claims)
    assert len(rows) == len(set(rows)) > 100
    marks = []
    for page in site.rglob("*.html"):
        marks += re.findall(r'class="claim claim-\w+" href="[^"#]*claims/#'
                            r'(claim-[^"]+)"', page.read_text())
    assert sorted(marks) == sorted(rows)


def teaching_pages(site):
    return [p for p in site.glob("*/index.html")
            if p.parent.name not in ("gallery", "claims", "timings", "api")
            ] + [site / "index.html"]


def made_in_cell(site, example, cell, output):
    """Whether code cell ``cell`` of ``example``'s gallery page makes the
    figure or table ``output`` (its name, written in the call)."""
    page = (site / "gallery" / example / "index.html").read_text()
    found = re.search(rf'<pre id="cell-{cell}">(.*?)</pre>', page, re.S)
    code = html_text(found.group(1)) if found else ""
    return bool(re.search(r'report\.(figure\([^,]+, |table\()"'
                          + re.escape(output) + '"', code))


def html_text(fragment):
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_every_figure_has_a_caption_naming_the_cell_that_made_it(site):
    """On every teaching page, each generated figure opens full size and
    has a caption linking to the example cell that made it: a <figure>
    with a <figcaption>, or, in an answer, a caption paragraph."""
    figures = 0
    for page in teaching_pages(site):
        html = page.read_text()
        images = re.findall(r'<img alt="[^"]*" src="[^"]*generated/[\w-]+/'
                            r'[\w.-]+\.svg"', html)
        found = re.findall(
            r'<p><a href="([^"]*generated/([\w-]+)/([\w-]+)\.svg)"><img '
            r'alt="[^"]+" src="\1" width="\d+" height="\d+" /></a></p>'
            r'\s*(?:<figcaption>\s*<p>|<p '
            r'class="figure-caption"><em>)Made by cell (\d+) of the example '
            r'<a href="[^"]*gallery/\2/#cell-\4">\2</a>', html)
        assert len(found) == len(images), page
        assert 'markdown="1"' not in html, page
        for _, example, name, cell in found:
            assert made_in_cell(site, example, cell, name), (page, name)
        figures += len(found)
    assert figures > 25


def test_every_generated_table_has_a_caption_naming_the_cell(site):
    tables = 0
    for page in teaching_pages(site):
        html = page.read_text()
        captions = re.findall(
            r'<p class="table-caption"><em>Table made by cell (\d+) of the '
            r'example <a href="[^"]*gallery/([\w-]+)/#cell-\1">\2</a>.</em>'
            r"</p>\s*(?:<div[^>]*>\s*)?<table>", html)
        all_captions = html.count('class="table-caption"')
        assert len(captions) == all_captions, page
        for cell, example in captions:
            gallery = (site / "gallery" / example / "index.html").read_text()
            code = re.search(rf'<pre id="cell-{cell}">(.*?)</pre>', gallery,
                             re.S)
            # report.table, or a helper given the table's name
            assert code and "table(" in html_text(code.group(1)), (
                page, example, cell)
        tables += len(captions)
    # every table a page includes from an example has one
    includes = sum(
        len(re.findall(r'^\s*--8<-- "[\w-]+/[\w.-]+\.md"', md.read_text(),
                       re.M)) for md in (ROOT / "docs").glob("*.md"))
    assert tables == includes > 10


def test_every_page_says_what_its_runs_ran_with(site):
    """A teaching page with generated figures or numbers, and every
    gallery page, says which torch and torchvision it ran with, on what,
    in which mode and when."""
    from importlib.metadata import version

    stamp = re.compile(
        r"ran with torch (\S+), torchvision (\S+) and Python \S+, on "
        r"[^(<]+ \((\d+) threads?\), in fast mode \(<code>DOCS_FAST=1"
        r"</code>\), (?:on|between \d{4}-\d\d-\d\d and) "
        r"(\d{4}-\d\d-\d\d) \(UTC\)\.")
    pages = [p for p in teaching_pages(site)
             if 'id="examples-on-this-page"' in p.read_text()]
    pages += list((site / "gallery").glob("*/index.html"))
    assert len(pages) > 40
    for page in pages:
        found = stamp.findall(page.read_text())
        assert len(found) == 1, page
        torch, torchvision, threads, day = found[0]
        assert (torch, torchvision) == (version("torch"),
                                        version("torchvision"))
        assert threads == "1" and day[:2] == "20"


def test_every_claims_row_links_back_to_its_sentence(site):
    """Each row of the claims page links to its mark on the page that
    states it, and that mark links back to the row."""
    claims = (site / "claims/index.html").read_text()
    back = re.findall(r'href="\.\./([^"#]*)#mark-(claim-[^"]+)"', claims)
    assert len(back) > 100
    for page, anchor in back:
        html = (site / page / "index.html" if not page.endswith(".html")
                else site / page).read_text()
        assert re.search(rf'href="[^"#]*claims/#{anchor}" '
                         rf'id="mark-{anchor}"', html), (page, anchor)


def test_notebook_styles_are_css_and_nothing_unusable(site):
    css = (site / "assets/notebook.css").read_text()
    assert "<style" not in css and "</style>" not in css
    assert css.startswith('@charset "UTF-8";.jupyter-wrapper{')
    for page in (site / "gallery").glob("*/index.html"):
        assert not re.search(r"<style>\s*\[", page.read_text()), page


def test_timings_page_lists_every_example(site):
    html = (site / "timings/index.html").read_text()
    assert "An MLP with and without BatchNorm1d" in html
    assert re.search(r"<td[^>]*>\d+\.\d</td>", html)


# --- failing loudly ----------------------------------------------------------

def test_tiny_project_builds(tiny):
    result, site = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert "The answer is 42." in (site / "index.html").read_text()
    assert result.stderr.count("running tiny.py") == 1  # once per build
    assert (site / "gallery/tiny/index.html").is_file()
    assert (site / "generated/tiny/curve.svg").is_file()


def test_value_at_line_start_is_not_markdown_syntax(tiny):
    result, site = tiny(page="# Home\n\nThe answer is\n"
                             "{{ tiny.answer }}. Not a list.\n")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (site / "index.html").read_text()
    assert "The answer is\n42. Not a list." in html
    assert "<ol" not in html.split('class="md-content"')[1]


def test_failing_example_fails_the_build(tiny):
    result, site = tiny(extra="raise RuntimeError('boom in tiny')")
    assert result.returncode != 0
    assert "example" in result.stderr and "tiny.py failed" in result.stderr
    assert "RuntimeError: boom in tiny" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr.split(
        "failed:")[0]  # mkdocs itself did not crash: a clean error
    assert not (site / "index.html").exists()


def test_a_module_the_notebook_does_not_carry_fails_the_build(tiny):
    """The build runs the notebook a reader downloads: a helper imported
    with an import statement is carried in it; one that only importlib
    finds is not, and the project's copy on disk may not stand in."""
    (tiny.root / "helpers").mkdir()
    (tiny.root / "helpers/__init__.py").write_text("")
    (tiny.root / "helpers/carried.py").write_text("VALUE = 1\n")
    (tiny.root / "hidden.py").write_text("VALUE = 2\n")
    result, site = tiny(extra="from helpers.carried import VALUE\n"
                              "assert VALUE == 1\n"
                              "import importlib\n"
                              "importlib.import_module('hidden')")
    assert result.returncode != 0
    assert "ImportError: hidden (hidden.py) is a module of this project " \
        "that the example's notebook does not carry" in result.stderr
    assert "importlib.import_module('hidden')" in result.stderr
    assert not (site / "index.html").exists()


def test_missing_include_fails_the_build(tiny):
    page = '# Home\n\n```python\n--8<-- "examples/tiny.py:nope"\n```\n'
    result, _ = tiny(page=page)
    assert result.returncode != 0
    assert "index.md:4: section 'nope' not found in examples/tiny.py" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_fails_the_build(tiny):
    result, _ = tiny(page='# Home\n\n--8<-- "tiny/absent.md"\n')
    assert result.returncode != 0
    assert "index.md:3: included file tiny/absent.md not found" in \
        result.stderr
    assert "Traceback" not in result.stderr


def test_an_include_outside_the_project_fails_in_one_line(tiny, tmp_path):
    # pymdownx.snippets refused it with a 13-frame traceback
    outside = tmp_path.parent / f"{tmp_path.name}-outside.md"
    outside.write_text("# Not ours\n")
    rel = f"../{outside.name}"
    result, _ = tiny(page=f'# Home\n\n--8<-- "{rel}"\n')
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"index.md:3: included file {rel} is outside the project" in \
        result.stderr, result.stderr[-2000:]


def test_unknown_value_fails_the_build(tiny):
    result, _ = tiny(page="# Home\n\n{{ tiny.question }}\n")
    assert result.returncode != 0
    assert "no value tiny.question (values of tiny: answer)" in result.stderr
    # an example that does not exist is said to be missing, with a guess
    # ... and every mistake of the page is named at once
    result, _ = tiny(page="# Home\n\n{{ tiyn.answer }}\n\n{{ tiny.q }}\n")
    assert result.returncode != 0
    assert "index.md:3: {{ tiyn.answer }}: there is no example named tiyn " \
        "(did you mean tiny?)" in result.stderr
    assert "index.md:5: no value tiny.q" in result.stderr


def test_broken_link_fails_the_build(tiny):
    result, _ = tiny(page="# Home\n\nSee [this](missing.md).\n")
    assert result.returncode != 0
    assert "missing.md" in result.stderr


def one_error_line(result):
    """The build's only ERROR line; it failed in that line, without a
    traceback."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("ERROR")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("variable, value", [
    ("DOCS_FAST", "yes"), ("DOCS_FAST", "2"), ("DOCS_EXECUTE", "maybe"),
    ("DOCS_JOBS", "0"), ("DOCS_JOBS", "two"), ("DOCS_JOBS", "\u00b9"),
    ("DOCS_CACHE_DIR", "~nosuchuser/cache"),
    ("DOCS_DATA_DIR", "/etc/hostname"), ("DOCS_CACHE_DIR", "/etc/hostname"),
    ("DOCS_ONLY", "Tiny!"),
    ("DOCS_CACHE_DIR", "/proc/no-cache"), ("DOCS_DATA_DIR", "/proc/no-data"),
    ("DOCS_RERUN", "nothing_like_it"),
])
def test_bad_setting_fails_the_build_in_one_line(tiny, variable, value):
    result, site = tiny(**{variable: value})
    assert result.returncode != 0
    error = one_error_line(result)
    assert f"{variable}={value!r}" in error
    assert not (site / "index.html").exists()


def test_a_misspelt_variable_is_said(tiny):
    # DOCS_FAS=1 was ignored without a word: a full-size build
    result, _ = tiny(DOCS_FAS="1")
    assert result.returncode != 0  # a warning, in a strict build
    assert "DOCS_FAS is not a variable the build reads (did you mean " \
        "DOCS_FAST?)" in result.stderr


@pytest.mark.parametrize("variable, inside", [
    ("DOCS_CACHE_DIR", "docs/cache"), ("DOCS_DATA_DIR", "docs/data"),
    ("DOCS_CACHE_DIR", "site/cache")])
def test_a_folder_inside_the_docs_or_the_site_is_refused(tiny, variable,
                                                         inside):
    """In docs/, MkDocs would publish the cache or the data as pages (the
    next build failed on them); in the site folder, every build replaced
    it (every example ran at every build)."""
    result, _ = tiny(**{variable: str(tiny.root / inside)})
    assert result.returncode != 0
    error = one_error_line(result)
    assert f"{variable}={str(tiny.root / inside)!r} is inside the " \
        f"{inside.partition('/')[0]} folder" in error
    assert not (tiny.root / inside).exists()


def test_a_site_folder_that_cannot_be_written_is_one_line(tiny, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    site = blocker / "site"  # its folder is a file: nothing can be made
    result = mkdocs_build(site, cwd=tiny.root,
                          config=str(tiny.root / "mkdocs.yml"),
                          env=fast_env())
    assert result.returncode != 0
    error = one_error_line(result)
    assert f"the site cannot be written to {site}" in error


def test_an_example_that_does_not_parse_fails_in_one_line(tiny):
    # was a 61-line traceback through mkdocs, click and ast.parse
    result, site = tiny(extra="def (:")
    assert result.returncode != 0
    error = one_error_line(result)
    assert re.search(r"examples/tiny\.py:\d+: SyntaxError: ", error)


def test_more_jobs_than_cores_are_capped_saying_so(tiny):
    result, _ = tiny(DOCS_JOBS="512")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"DOCS_JOBS=512 is more than this machine's \d+ cores:"
                     r" running \d+ examples at a time", result.stderr)


def test_a_preload_module_that_does_not_exist_fails_the_build(tiny):
    config = tiny.root / "mkdocs.yml"
    text = config.read_text()
    assert "  - examples:\n" in text
    config.write_text(text.replace(
        "  - examples:\n", "  - examples:\n      preload: [torhc]\n", 1))
    result, site = tiny()
    assert result.returncode != 0
    error = one_error_line(result)
    assert "preload in mkdocs.yml: no module 'torhc'" in error
    assert not (site / "index.html").exists()


def test_execution_off_serves_the_cache(tiny):
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    result, site = tiny(DOCS_EXECUTE="false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "The answer is 42." in (site / "index.html").read_text()
    assert "tiny: cached" in result.stderr


# --- claims and placeholders -------------------------------------------------

RULES = "from snippets.support.rules import *\n"
CLAIM = RULES + 'report.claim("large", Above("the answer", 42, {bound}))'
CLAIM_PAGE = ("# Home\n\nSome text. The answer {{ tiny.answer }} is large"
              "{{ claim tiny.large }}. More text.\n")


def test_a_false_claim_fails_a_full_size_build(tiny):
    result, site = tiny(page=CLAIM_PAGE, extra=CLAIM.format(bound=100),
                        DOCS_FAST="0")
    assert result.returncode != 0
    assert ('index.md:3: claim tiny.large does not hold: "The answer 42 is '
            'large." (rule: the answer is above 100; evidence: the answer: '
            '42; bound: 100)' in result.stderr), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (site / "index.html").exists()


def test_a_false_claim_is_reported_in_fast_mode(tiny):
    result, site = tiny(page=CLAIM_PAGE, extra=CLAIM.format(bound=100))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "claim tiny.large does not hold" in result.stderr
    assert "not enforced" in result.stderr
    home = (site / "index.html").read_text()
    assert re.search(r'<a aria-label="Claim did not hold in this build: '
                     r'the answer is above 100. Evidence on the claims page" '
                     r'class="claim claim-failed" '
                     r'href="claims/#claim-tiny-large"[^>]*>✗</a>', home)
    claims = (site / "claims/index.html").read_text()
    assert 'id="claim-tiny-large"' in claims
    assert "0 of 1 claims held" in claims


def test_a_held_claim_links_to_its_rule_and_evidence(tiny):
    result, site = tiny(page=CLAIM_PAGE, extra=CLAIM.format(bound=10),
                        DOCS_FAST="0")
    assert result.returncode == 0, result.stderr[-3000:]
    home = (site / "index.html").read_text()
    link = re.search(r'<a aria-label="Claim held in this build: [^"]*" '
                     r'class="claim claim-held" href="claims/'
                     r'#claim-tiny-large" id="mark-claim-tiny-large" '
                     r'title="([^"]*)">✓</a>', home)
    assert link and ("Rule: the answer is above 10. Evidence: the answer: "
                     "42; bound: 10") in link.group(1)
    claims = (site / "claims/index.html").read_text()
    assert "1 of 1 claims held" in claims
    assert "The answer 42 is large." in claims
    assert "<td>the answer is above 10</td>" in claims
    assert '(<a href="../#mark-claim-tiny-large">on Home</a>)' in claims


# A claim whose rule would hold whatever its evidence: with factor 10 and
# negative numbers, swapping the two sides leaves it true.
NEVER_FAILS = RULES + ('report.claim("large", Greater("a", -1, "b", -5, '
                       'factor=10))')
# Every run at the first measurement: these runs cannot rank anything.
AT_RESOLUTION = RULES + (
    'report.claim("large", Paired("steps to the target", "BN", '
    '[100, 100, 100], "plain", [100, 100, 100], LOWER, floor=100))')


def test_a_claim_that_could_never_fail_fails_every_build(tiny):
    result, _ = tiny(page=CLAIM_PAGE, extra=NEVER_FAILS)
    assert result.returncode != 0
    assert ("claim tiny.large: its rule could never fail: it still holds "
            "with its evidence moved to the opposite case"
            in result.stderr), result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fast", ["0", "1"])
def test_a_claim_at_its_resolution_limit_is_no_verdict(tiny, fast):
    result, site = tiny(page=CLAIM_PAGE, extra=AT_RESOLUTION,
                        DOCS_FAST=fast)
    message = ("claim tiny.large its evidence cannot carry a verdict: "
               "every run is at the first value the measure can take (100)")
    assert message in result.stderr, result.stderr[-2000:]
    assert (result.returncode != 0) == (fast == "0")


@pytest.mark.parametrize("sentence, words", [
    ("BN is within seed-to-seed noise of it{{ claim tiny.large }}.",
     '"seed-to-seed noise" is stronger than its claims\' rules support '
     "(tiny.large supports: direction)"),
    ("The answer is large on every seed{{ claim tiny.large }}.",
     '"on every seed" is stronger'),
    ("The answer is the same{{ claim tiny.large }}.",
     '"the same" is stronger'),
    ("The answer was larger on every seed.",
     '"on every seed" states a verdict but no claim checks it'),
    ("The answer is significantly large{{ claim tiny.large }}.",
     '"significantly" is not a word for a verdict here'),
])
def test_words_stronger_than_their_rule_fail_the_build(tiny, sentence,
                                                       words):
    page = f"# Home\n\nSome text.\n{sentence} {{{{ tiny.answer }}}}.\n"
    page += "\nThe answer {{ tiny.answer }} is large{{ claim tiny.large }}.\n"
    result, _ = tiny(page=page, extra=CLAIM.format(bound=10))
    assert result.returncode != 0
    assert f"index.md:4: {words}" in result.stderr, result.stderr[-2000:]


def test_a_claim_no_example_evaluates_fails_the_build(tiny):
    result, _ = tiny(page=CLAIM_PAGE)
    assert result.returncode != 0
    assert "index.md:3: claim tiny.large is never evaluated" in result.stderr


def test_a_claim_of_an_example_that_does_not_exist_says_so(tiny):
    # it said "claims of tiyn: none", as if tiyn existed
    result, _ = tiny(page="# Home\n\nLarge{{ claim tiyn.large }}.\n")
    assert result.returncode != 0
    assert "index.md:3: {{ claim tiyn.large }}: there is no example " \
        "named tiyn (did you mean tiny?)" in result.stderr, \
        result.stderr[-2000:]


def test_a_claim_no_page_states_fails_the_build(tiny):
    result, _ = tiny(extra=CLAIM.format(bound=10))
    assert result.returncode != 0
    assert "claim tiny.large is evaluated but no page states it" in \
        result.stderr


@pytest.mark.parametrize("placeholder", [
    "{{ tiny.answer }", "{ tiny.answer }}", "{{tiny. answer}}",
    "{{ claim tiny }}"])
def test_a_malformed_placeholder_is_refused(placeholder):
    with pytest.raises(syntax.SyntaxProblem) as error:
        syntax.placeholders(f"# Home\n\nThe answer is {placeholder}.\n",
                            "index.md")
    assert str(error.value).startswith("index.md:3: malformed placeholder")


def test_a_malformed_placeholder_fails_the_build(tiny):
    """(Each malformed form: the test above.)"""
    result, _ = tiny(page="# Home\n\nThe answer is {{tiny. answer}}.\n")
    assert result.returncode != 0
    assert "index.md:3: malformed placeholder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["x*y", "a|b", "<b>", "`x`", "[1]",
                                   "nan", "None", "-inf", " "])
def test_a_value_markdown_would_misread_is_refused(value):
    assert not shows_as_text(value)


def test_a_value_markdown_would_misread_fails_the_build(tiny):
    """(Each value refused: the test above.)"""
    result, _ = tiny(page="# Home\n\n{{ tiny.odd }}\n",
                     extra="report.values(odd='x*y')")
    assert result.returncode != 0
    assert "value tiny.odd is 'x*y', which a page cannot show as text" in \
        result.stderr


def test_table_cells_stay_text(tiny):
    page = '# Home\n\n--8<-- "tiny/t.md"\n'
    extra = ('report.table("t", ["layer", "note"], '
             '[["BatchNorm2d *", "a_b_c"], ["x|y", "<1e-5"]])')
    result, site = tiny(page=page, extra=extra)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (site / "index.html").read_text()
    assert "<td>BatchNorm2d *</td>" in html
    assert "<td>x|y</td>" in html and "<td>&lt;1e-5</td>" in html


def test_a_figure_an_example_did_not_make_names_its_line(tiny):
    page = "# Home\n\nText.\n\n![A curve](generated/tiny/nope.svg)\n"
    result, _ = tiny(page=page)
    assert result.returncode != 0
    assert "index.md:5: figure generated/tiny/nope.svg not found: example " \
        "tiny did not make it" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_leftovers_of_a_killed_build_are_removed(tiny):
    """A build killed before its end leaves its staging folder (or the
    site it replaced) beside the site: the next build removes them."""
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    left = [tiny.root / ".site.building-999999999-dead",
            tiny.root / ".site.old-cafe"]
    for folder in left:
        (folder / "assets").mkdir(parents=True)
    result, _ = tiny()
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p for p in left if p.exists()] == []


def test_a_missing_file_in_a_block_include_names_its_line(tiny):
    page = "# Home\n\nText.\n\n--8<--\ntiny/absent.md\n--8<--\n"
    result, _ = tiny(page=page)
    assert result.returncode != 0
    assert "index.md:6: included file tiny/absent.md not found" in \
        result.stderr
    assert "Traceback" not in result.stderr


def test_no_example_records_a_dead_value(build):
    """Every value an example records is shown on a page or read by a test
    (a value nobody uses is work done for nothing, and rots)."""
    from docs_plugin.examples import discover
    from testkit import DOCS, EXAMPLES, referenced_outputs

    refs = referenced_outputs(DOCS)
    tests = "".join(p.read_text() for p in
                    (EXAMPLES.parent / "tests").glob("*.py"))
    dead = []
    for example in discover(EXAMPLES):
        outputs = build.outputs(example.name)
        for filename in (VALUES, TIMINGS):
            if not (outputs / filename).is_file():
                continue
            for key in json.loads((outputs / filename).read_text()):
                used = key in refs.get(example.name, {}).get("values", ())
                if not used and f'"{key}"' not in tests \
                        and f"'{key}'" not in tests:
                    dead.append(f"{example.name}.{key}")
    assert dead == []
