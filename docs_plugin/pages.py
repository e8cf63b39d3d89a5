"""The pages' own syntax, rewritten into Markdown for each page: values
filled in, included tables pointed at the cache entry that holds them,
claim marks, the "Examples on this page" cards at the end, and (serving)
cards for failed or out-of-date examples.
"""

import html
from pathlib import Path

from mkdocs.exceptions import PluginError

from docs_plugin import claims, gallery, stamps, syntax
from docs_plugin.background import Running
from docs_plugin.examples import no_such_example, output_cell
from docs_plugin.outputs import THUMBNAIL

# Characters that would make a value Markdown instead of text.
ACTIVE = set("*|<>[]`")


def shows_as_text(value: str) -> bool:
    """Whether a page can show ``value`` (a string from values.json) as it
    is: no character Markdown or HTML would act on, and not empty, NaN,
    None or infinite.

    >>> [shows_as_text(v) for v in ["0.25", "12%", "x*y", "a|b", "nan", ""]]
    [True, True, False, False, False, False]
    """
    return not (ACTIVE & set(value) or value.strip() in (
        "", "nan", "NaN", "None", "inf", "-inf"))


def rewrite(state, markdown, page, config) -> str:
    """A page's Markdown with its syntax replaced (see module doc)."""
    where = page.file.src_path
    try:
        found = syntax.placeholders(markdown, where)
    except syntax.SyntaxProblem as error:
        raise PluginError(str(error)) from None
    used = syntax.examples_used(markdown, state.by_name, where)
    failed = [name for name in used if name in state.failures]
    stale = [name for name in used
             if name in state.runs and state.runs[name].stale]
    running = [name for name in failed
               if isinstance(state.failures[name], Running)]
    failed = [name for name in failed if name not in running]
    if failed or running:
        markdown = _without_failed(markdown, failed, "failed, see above")
        markdown = _without_failed(markdown, running, "has not run yet")
        found = syntax.placeholders(markdown, where)
    _check_figures(state, markdown, where)
    markdown = _point_includes_at_entries(state, markdown, where, config)
    markdown = substitute_values(state, markdown, where, found)
    markdown = _cards(state, failed, stale, running) + markdown
    markdown += gallery.mini_gallery(state, page)
    markdown += _stamp(state, used)
    for placeholder in found:
        if placeholder.kind == "claim":
            markdown = markdown.replace(
                placeholder.text,
                claims.mark(state, placeholder, page.file.src_uri), 1)
    # last: it adds lines, and the placeholders above are found by line
    return syntax.captioned(
        markdown, lambda name, file: _output_cell(state, name, file),
        {run.entry.name: name for name, run in state.runs.items()})


def error_page(title, message) -> str:
    """Serving: what a page whose syntax is wrong shows instead (MkDocs
    would stop answering until it is fixed)."""
    return "\n".join([
        f"# {title or 'This page'}", "",
        '!!! failure "This page has an error"', "",
        "    `mkdocs build` fails on it; the other pages are served as "
        "usual. Fix it and save: the page reloads.", "",
        '    <pre class="example-error">'
        + html.escape(message).replace("\n", "&#10;") + "</pre>", ""])


def _output_cell(state, name, file) -> int | None:
    example = state.by_name.get(name)
    return output_cell(example.path, file) if example else None


def _stamp(state, used) -> str:
    """The line that says how the runs behind a page's figures and
    numbers ran (``stamps``)."""
    records = [state.runs[name].ran for name in used
               if name in state.runs and state.runs[name].ran]
    if not records:
        return ""
    count = len(records)
    subject = ("The example behind this page's figures and numbers"
               if count == 1 else
               f"The {count} examples behind this page's figures and "
               "numbers")
    return ('\n\n<p class="run-stamp" data-search-exclude>'
            + stamps.sentence(records, subject) + "</p>\n")


def _without_failed(markdown, failed, why):
    """Serving: a failed (or not yet run) example's figures, tables,
    numbers and claims replaced by a short note saying ``why`` (its card,
    at the top, says more)."""
    lines = markdown.split("\n")
    for include in syntax.includes(markdown):
        name = include.path.partition("/")[0]
        if name in failed:
            lines[include.line - 1] = (
                f"{include.indent}*(table {include.path} missing: "
                f"example {name} {why})*")
    markdown = "\n".join(lines)
    for name in failed:
        markdown = syntax.without_example(
            markdown, name,
            f"*(figure missing: example {name} {why})*", "**⚠**")
    return markdown


def _cards(state, failed, stale, running=()):
    """Admonitions at the top of a page: failed examples and examples
    running in the background (serving), out-of-date results
    (DOCS_EXECUTE=false or DOCS_ONLY)."""
    cards = []
    for name in running:
        cards += [f'!!! info "Example {name} is running"', "",
                  "    Its figures, tables and numbers show here when it "
                  "ends; the page reloads then.", ""]
    for name in failed:
        message = str(state.failures[name])
        cards += [f'!!! failure "Example {name} failed"',
                  "",
                  f"    The figures, tables and numbers of `{name}` on "
                  "this page are missing until it runs again. What it "
                  "reported:",
                  "",
                  '    <pre class="example-error">'
                  + html.escape(message).replace("\n", "&#10;")
                  + "</pre>", ""]
    for name in stale:
        if state.runs[name].running:
            cards += [f'!!! info "Example {name} is running again"', "",
                      f"    This page shows its last results "
                      f"({state.runs[name].stale}) until the new run "
                      "ends; the page reloads then.", ""]
            continue
        cards += [f'!!! warning "Out-of-date results of {name}"', "",
                  f"    This page shows the last results of `{name}`, "
                  f"but {state.runs[name].stale}: it was not run again "
                  "because `DOCS_EXECUTE` or `DOCS_ONLY` said not to.",
                  ""]
    return "\n".join(cards) + ("\n" if cards else "")


def substitute_values(state, markdown, where, found) -> str:
    """``markdown`` with every ``{{ example.key }}`` of ``found`` replaced
    by its value (claims are left as they are)."""
    lines, problems = markdown.split("\n"), []
    for placeholder in found:
        if placeholder.kind != "value":
            continue
        line = lines[placeholder.line - 1]
        if placeholder.example in state.failures:
            lines[placeholder.line - 1] = line.replace(
                placeholder.text, "**⚠**", 1)
            continue
        try:
            value = _value(state, placeholder, where)
        except PluginError as error:  # every one of the page, at once
            problems.append(str(error))
            continue
        at_start = line.lstrip().startswith(placeholder.text)
        line = line.replace(placeholder.text, value, 1)
        if at_start and value[:1].isdigit():
            # "32. Next" at a line start must not become a list item
            indent = len(line) - len(line.lstrip())
            digits = len(value) - len(value.lstrip("0123456789"))
            rest = line[indent + digits:]
            if rest[:1] in (".", ")"):
                line = line[:indent + digits] + "\\" + rest
        lines[placeholder.line - 1] = line
    if problems:
        raise PluginError("\n".join(problems))
    return "\n".join(lines)


def _value(state, placeholder, where):
    example, key = placeholder.example, placeholder.key
    try:
        value = state.values[example][key]
    except KeyError:
        if example not in state.by_name:
            raise PluginError(
                f"{where}:{placeholder.line}: {{{{ {example}.{key} }}}}: "
                + no_such_example(example, state.by_name, state.code_dir)) \
                from None
        known = ", ".join(sorted(state.values.get(example, {}))) or "none"
        raise PluginError(
            f"{where}:{placeholder.line}: no value {example}.{key} "
            f"(values of {example}: {known})") from None
    if not shows_as_text(value):
        raise PluginError(
            f"{where}:{placeholder.line}: value {example}.{key} is "
            f"{value!r}, which a page cannot show as text")
    return value


def _check_figures(state, markdown, where):
    """A figure an example did not make is an error naming the page's
    line (MkDocs would only say that some link of the page is broken)."""
    for line, name, figure in syntax.figure_lines(markdown):
        run = state.runs.get(name)
        if run is None or figure in run.files or (
                figure.startswith("notebook-") or figure == THUMBNAIL):
            continue  # failed (serving), not an example's, or rendered
        made = [f for f in run.files if not f.endswith(".md")]
        raise PluginError(
            f"{where}:{line}: figure generated/{name}/{figure} not found: "
            f"example {name} did not make it (it made: "
            f"{', '.join(made) or 'no figure'})")


def _point_includes_at_entries(state, markdown, where, config):
    """Check every include (pymdownx would only raise a bare traceback)
    and point the ones of generated tables at the cache entry that holds
    them."""
    bases = config.mdx_configs["pymdownx.snippets"]["base_path"]
    lines = markdown.split("\n")
    for include in syntax.includes(markdown):
        at = f"{where}:{include.line}"
        first, _, rest = include.path.partition("/")
        if first in state.runs and rest:
            run = state.runs[first]
            if not (run.outputs / rest).is_file():
                raise PluginError(
                    f"{at}: included file {include.path} not found: "
                    f"example {first} did not write {rest}")
            new = f"{run.entry.name}/outputs/{rest}"
            lines[include.line - 1] = lines[include.line - 1].replace(
                include.path, new, 1)
            continue
        _check_source_include(include, bases, at)
    return "\n".join(lines)


def _check_source_include(include, bases, at):
    found = [b for b in bases if (Path(b) / include.path).is_file()]
    if not found:
        raise PluginError(f"{at}: included file {include.path} not found")
    inside = [b for b in found if Path(b).resolve() in
              (Path(b) / include.path).resolve().parents]
    if not inside:  # pymdownx.snippets refuses it, with a traceback
        raise PluginError(
            f"{at}: included file {include.path} is outside the project "
            "(a page includes only files inside it)")
    found = inside
    if include.section:
        source = (Path(found[0]) / include.path).read_text(
            encoding="utf-8")
        try:
            known = syntax.sections(source, include.path)
        except syntax.SyntaxProblem as error:
            raise PluginError(f"{at}: {error}") from None
        if include.section not in known:
            raise PluginError(f"{at}: section '{include.section}' "
                              f"not found in {include.path}")
