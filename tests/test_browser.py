"""The built site in a real browser (headless Chromium): math is rendered,
figures load, nothing errors in the console, search finds pages."""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or \
    "/usr/bin/chromium"
# A folder for full-page screenshots of the pages these tests open, to look
# at (they take seconds each, so only when asked for).
SCREENSHOTS = os.environ.get("SCREENSHOTS")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]


@pytest.fixture(scope="module")
def server(site):
    """Serve the built site on loopback (search's web worker needs HTTP)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
         "-d", str(site)], stdout=subprocess.PIPE,
        # its request log goes to stderr: a pipe nobody reads would fill
        # after some hundred requests and stall the server mid-test
        stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
    port = int(line.split(" port ")[1].split()[0])
    url = f"http://127.0.0.1:{port}/"
    for _ in range(50):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make setup` "
                    "or set CHROMIUM=/path/to/chrome")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that records console errors and failed requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and
            page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(
        f"failed: {r.url}"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(
        f"{r.status}: {r.url}"))
    page.base = server

    def shot(name):
        if not SCREENSHOTS:
            return
        folder = Path(SCREENSHOTS)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            problem = None
        except OSError as error:
            problem = error.strerror
        if problem:
            pytest.fail(f"SCREENSHOTS={SCREENSHOTS!r} is not a folder "
                        f"screenshots can go to: {problem}")
        page.screenshot(path=folder / f"{name}.png", full_page=True)

    page.shot = shot
    yield page
    context.close()


def images_loaded(page):
    return page.eval_on_selector_all(
        "article img",
        "imgs => imgs.map(i => [i.src, i.complete && i.naturalWidth > 0])")


@pytest.mark.parametrize("path", ["", "algorithm/", "inference/", "layers/",
                                  "ics/",
                                  "experiments/", "exercises/",
                                  "gallery/", "gallery/mlp_batchnorm/",
                                  "gallery/bn_backward/", "timings/"])
def test_page_loads_cleanly(page, path):
    page.goto(page.base + path, wait_until="networkidle")
    page.shot(path.strip("/").replace("/", "_") or "home")
    images = images_loaded(page)
    if path != "timings/":
        assert images, "expected a figure on this page"
    assert all(ok for _, ok in images), images
    assert page.problems == []


AXE = Path(__file__).resolve().parent.parent / \
    "node_modules/axe-core/axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe_in_both_schemes_and_widths(browser, server, scheme):
    """axe-core finds no WCAG 2.1 A/AA violation on the teaching pages, a
    gallery page, the gallery index and the generated pages, at a desktop
    and a phone's width (390 px)."""
    paths = ["", "algorithm/", "inference/", "layers/", "ics/",
             "experiments/", "practice/", "exercises/", "references/",
             "gallery/", "gallery/mlp_batchnorm/", "claims/", "timings/"]
    found = []
    for width in (1280, 390):
        context = browser.new_context(color_scheme=scheme,
                                      viewport={"width": width, "height": 900})
        page = context.new_page()
        for path in paths:
            page.goto(server + path, wait_until="networkidle")
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "axe.run(document, {runOnly: {type: 'tag', values: %s}})"
                % WCAG)
            found += [f"{path or 'home'} at {width} px: {v['id']} "
                      f"({len(v['nodes'])}: {v['nodes'][0]['target']})"
                      for v in result["violations"]]
        context.close()
    assert found == []


@pytest.mark.parametrize("scheme, width", [
    ("light", 1280), ("dark", 390), ("light", 390), ("dark", 1280)])
def test_every_other_page_passes_axe(browser, server, site, scheme, width):
    """The pages the test above leaves out (the other gallery pages, mostly
    notebook markup, and the API index), in both schemes at both widths:
    together with it, every page of the site."""
    core = {"", "algorithm/", "inference/", "layers/", "ics/",
            "experiments/", "practice/", "exercises/", "references/",
            "gallery/", "gallery/mlp_batchnorm/", "claims/", "timings/"}
    paths = sorted({(p.parent.relative_to(site).as_posix() + "/")
                    .removeprefix("./") for p in site.rglob("index.html")}
                   - core)
    assert len(paths) > 30
    context = browser.new_context(color_scheme=scheme,
                                  viewport={"width": width, "height": 900})
    page = context.new_page()
    found = []
    for path in paths:
        page.goto(server + path, wait_until="networkidle")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: %s}})" % WCAG)
        found += [f"{path}: {v['id']} ({len(v['nodes'])}: "
                  f"{v['nodes'][0]['target']})" for v in result["violations"]]
    context.close()
    assert found == []


def test_math_is_rendered_by_katex(page):
    page.goto(page.base, wait_until="networkidle")
    assert page.locator(".katex-display").count() >= 1
    assert page.locator(".katex").count() >= 5
    assert page.locator(".katex-error").count() == 0
    text = page.locator("article").inner_text()
    assert "\\frac" not in text and "\\(" not in text  # no raw TeX left
    # KaTeX's own fonts, served by the site, are in use.
    fonts = page.evaluate(
        "[...document.fonts].filter(f => f.status == 'loaded')"
        ".map(f => f.family)")
    assert any("KaTeX" in family for family in fonts), fonts


def test_math_in_a_notebooks_text_is_rendered(page):
    """A gallery page's Markdown cells show math (its code stays code)."""
    page.goto(page.base + "gallery/inference_running_stats/",
              wait_until="networkidle")
    text = page.locator(".jp-RenderedMarkdown")
    assert text.locator(".katex").count() >= 2
    assert "$\\alpha$" not in text.all_inner_texts()[0] + "".join(
        text.all_inner_texts())
    assert page.locator(".jp-InputArea-editor .katex").count() == 0


def test_algorithm_page_math_and_answers(page):
    page.goto(page.base + "algorithm/", wait_until="networkidle")
    assert page.locator(".katex-display").count() >= 3
    assert page.locator(".katex-error").count() == 0
    answers = page.locator("details.success")
    assert answers.count() == 5
    first = answers.first
    assert not first.locator("pre").is_visible()  # collapsed at first
    first.locator("summary").click()
    assert first.locator("pre").is_visible()
    assert "statistics_count((8, 16, 5, 5))" in first.inner_text()
    assert page.problems == []


def test_exercises_page_answers_fold_open(page):
    page.goto(page.base + "exercises/", wait_until="networkidle")
    answers = page.locator("details.success")
    assert answers.count() == 7  # one per d2l exercise
    first = answers.first
    assert not first.locator("table").is_visible()  # collapsed at first
    first.locator("summary").click()
    table = first.locator("table")
    assert table.is_visible()
    assert "Parameters" in table.inner_text()
    # Figures inside answers load once opened.
    second = answers.nth(1)
    second.locator("summary").click()
    image = second.locator("img")
    image.wait_for(state="visible")
    assert page.evaluate(
        "i => i.complete && i.naturalWidth > 0", image.element_handle())
    assert "{{" not in page.locator("article").inner_text()
    assert page.problems == []


def test_code_blocks_render_with_copy_buttons(page):
    page.goto(page.base + "experiments/", wait_until="networkidle")
    blocks = page.locator("article .highlight pre")
    assert blocks.count() >= 4
    assert "def lenet" in blocks.first.inner_text()
    assert any("def make_mlp" in t for t in blocks.all_inner_texts())
    copy = page.locator('article .md-code__button[data-md-type="copy"]')
    assert copy.count() >= 4


def test_search_finds_a_page(page):
    page.goto(page.base, wait_until="networkidle")
    page.locator(".md-search__input").click()
    page.keyboard.type("running_mean")  # Material reacts to key events
    # Results update as each key arrives: wait for the full query's.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.md-search-result__item')]"
        ".some(item => item.innerText.includes('running_mean'))",
        timeout=20000)
    assert page.locator(".md-search-result__item").count() >= 1
    assert page.problems == []


@pytest.mark.parametrize("path", ["", "algorithm/", "gallery/",
                                  "gallery/mlp_batchnorm/", "claims/"])
def test_pages_in_the_dark_scheme(browser, server, path):
    """The dark scheme (following the system) loads cleanly: figures,
    the shared notebook stylesheet, math; the toggle switches schemes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  color_scheme="dark")
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(
        m.text))
    page.on("response", lambda r: r.status >= 400 and problems.append(
        f"{r.status}: {r.url}"))
    page.goto(server + path, wait_until="networkidle")
    assert page.evaluate(
        "document.body.getAttribute('data-md-color-scheme')") == "slate"
    assert all(ok for _, ok in images_loaded(page))
    if path.startswith("gallery/mlp"):
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.jp-Notebook'))"
            ".getPropertyValue('--jp-layout-color0').trim()")
        assert background and background != "white", background
    assert problems == []
    context.close()


def test_claim_marks_link_to_the_claims_page(page):
    page.goto(page.base + "claims/", wait_until="networkidle")
    text = page.locator("article").inner_text()
    assert re.search(r"\d+ of \d+ claims held in this build", text)
    rows = page.locator("article table tbody tr")
    assert rows.count() >= 10
    assert page.problems == []


@pytest.mark.parametrize("query", ["running_var", "BatchNorm2d",
                                   "track_running_stats", "momentum"])
def test_search_finds_the_teaching_page_before_the_gallery(page, query):
    """An API name a teaching page explains is found there first; the
    gallery pages that use it come after (their search boost is low)."""
    page.goto(page.base, wait_until="networkidle")
    page.click(".md-search__input")
    page.type(".md-search__input", query, delay=10)
    results = page.locator(".md-search-result__item > a")
    results.first.wait_for(timeout=10_000)
    hrefs = [results.nth(i).get_attribute("href")
             for i in range(min(results.count(), 6))]
    assert "/gallery/" not in hrefs[0], hrefs


# What scrolls sideways on a phone, where: the widest of each on its page.
SCROLLERS = [("algorithm/", "article pre > code"),
             ("gallery/inference_momentum/", ".highlight-ipynb pre"),
             ("practice/", ".md-typeset__scrollwrap"),
             ("algorithm/", "div.arithmatex")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_what_scrolls_sideways_shows_a_shadow_where_there_is_more(
        browser, server, scheme):
    """Code, notebook code, tables and display math wider than a phone
    show a shadow at the edge where there is more, and none at the other
    (measured in pixels, with the text made invisible)."""
    import io

    from PIL import Image

    context = browser.new_context(viewport={"width": 390, "height": 800},
                                  color_scheme=scheme)
    page = context.new_page()
    hide = (".cue-test, .cue-test * { color: transparent !important; "
            "border-color: transparent !important; }")

    def edges(element):
        """Mean grey of the left strip, the middle and the right strip."""
        image = Image.open(io.BytesIO(element.screenshot())).convert("L")
        width, height = image.size
        rows = range(height // 3, 2 * height // 3)

        def mean(columns):
            return sum(image.getpixel((x, y)) for x in columns
                       for y in rows) / (len(columns) * len(rows))

        return (mean(range(0, 2)), mean([width // 2]),
                mean(range(width - 2, width)))

    found = {}
    for path, selector in SCROLLERS:
        page.goto(server + path, wait_until="networkidle")
        wide = [e for e in page.locator(selector).all() if e.evaluate(
            "e => e.scrollWidth > e.clientWidth + 40")]
        assert wide, f"nothing of {selector} scrolls on {path} at 390 px"
        element = wide[0]
        element.scroll_into_view_if_needed()
        page.add_style_tag(content=hide)
        element.evaluate("e => e.classList.add('cue-test')")
        start = edges(element)
        element.evaluate("e => e.scrollLeft = e.scrollWidth")
        page.wait_for_timeout(100)
        end = edges(element)
        found[selector] = (start, end)
    sign = -1 if scheme == "light" else 1  # a shadow darkens, or lightens
    for selector, ((left, middle, right), (left2, middle2, right2)) in \
            found.items():
        assert sign * (right - middle) > 25 and abs(left - middle) < 6, \
            (selector, "at the start", left, middle, right)
        assert sign * (left2 - middle2) > 25 and \
            abs(right2 - middle2) < 6, (selector, "at the end", left2,
                                        middle2, right2)
    context.close()
