"""The page syntax the build understands, parsed here and nowhere else.

The build and the tests all use these functions, so they can never
disagree about what counts as an include, a section, a value, a claim or a
figure.

- **Sections** in source files, as ``pymdownx.snippets`` reads them::

      # --8<-- [start:name]
      ...
      # --8<-- [end:name]

- **Includes** in pages: one line ``--8<-- "path"`` or
  ``--8<-- "path:section"``, or the block form (a line ``--8<--``, one
  path per line, a closing ``--8<--``). A ``;`` before the scissors
  escapes it.
- **Values**: ``{{ example.key }}``, a number or word an example recorded.
- **Claims**: ``{{ claim example.name }}``, a sentence's check.
- **Figures**: ``generated/<example>/<file>``, in image links
  (``![alt](generated/<example>/<file>)``).

The include regular expression is ``pymdownx.snippets``' own (13.x), so
what this module sees is what the Markdown extension will include.
"""

import re
from dataclasses import dataclass

# pymdownx.snippets.SnippetPreprocessor.RE_ALL_SNIPPETS
_INCLUDE_LINE = re.compile(
    r'''(?x)
    ^(?P<space>[ \t]*)
    (?P<escape>;*)
    (?P<all>
        (?P<inline_marker>-{1,}8<-{1,}[ \t]+)
        (?P<snippet>(?:"(?:\\"|[^"\n\r])+?"|'(?:\\'|[^'\n\r])+?'))(?![ \t]) |
        (?P<block_marker>-{1,}8<-{1,})(?![ \t])
    )\r?$
    ''')
# pymdownx.snippets.SnippetPreprocessor.RE_SNIPPET_SECTION, simplified to
# what this project writes (no escapes).
_SECTION_LINE = re.compile(
    r"(?i)^(?P<pre>.*?)-{1,}8<-{1,}[ \t]+\[[ \t]*(?P<type>start|end)[ \t]*:"
    r"[ \t]*(?P<name>[a-z][-_0-9a-z]*)[ \t]*\](?P<post>.*)$")
_SECTION_NAME = re.compile(r"(?i)^[a-z][-_0-9a-z]*$")
_MARKER_ANYWHERE = re.compile(  # a section marker or an include
    r"(?i)#?[ \t]*-{1,}8<-{1,}[ \t]+(?:\[[ \t]*(?:start|end)[ \t]*:"
    r"[^\]\n]*\]|(?:&quot;|\")[^\"\n&]+(?:&quot;|\"))")
_LINES = re.compile(r"^-?\d*(:-?\d*)?(,-?\d*(:-?\d*)?)*$")

# {{ example.key }} and {{ claim example.name }}; anything else between
# double braces is an error (see placeholders()).
NAME = r"[A-Za-z_]\w*"
VALUE = re.compile(r"\{\{\s*(" + NAME + r")\.(" + NAME + r")\s*\}\}")
CLAIM = re.compile(r"\{\{\s*claim\s+(" + NAME + r")\.(" + NAME + r")\s*\}\}")
_OPEN = re.compile(r"\{\{")
# "{ ex.key }}": a placeholder that lost its first brace (TeX's "}}"
# alone is fine).
_HALF_OPEN = re.compile(r"(?<!\{)\{\s*" + NAME + r"\." + NAME + r"\s*\}\}")
FIGURE = re.compile(r"generated/([\w-]+)/([\w.-]+)")
_IMAGE = re.compile(r"!\[[^\]]*\]\(generated/([\w-]+)/[^)]*\)")


class SyntaxProblem(ValueError):
    """Malformed page or section syntax; the message says where."""


# --- sections in source files ----------------------------------------------

def is_marker(line: str) -> bool:
    """Whether ``line`` is a section marker (dropped from what is shown).

    >>> is_marker("# --8<-- [start:train]"), is_marker("x = 1  # 8<")
    (True, False)
    """
    return _SECTION_LINE.match(line) is not None


def strip_markers(source: str) -> str:
    """``source`` without its section-marker lines.

    >>> strip_markers("# --8<-- [start:a]\\nx = 1\\n# --8<-- [end:a]\\n")
    'x = 1\\n'
    """
    return "".join(line for line in source.splitlines(keepends=True)
                   if not is_marker(line))


def sections(source: str, where: str = "<source>"
             ) -> dict[str, tuple[int, int]]:
    """``{name: (first, last)}`` line numbers (1-based, inclusive) of the
    code inside each section of ``source``; unbalanced markers raise.

    >>> sections("# --8<-- [start:a]\\nx = 1\\n# --8<-- [end:a]\\n")
    {'a': (2, 2)}
    >>> sections("# --8<-- [end:a]\\n", "f.py")
    Traceback (most recent call last):
    ...
    docs_plugin.syntax.SyntaxProblem: f.py:1: [end:a] without a [start:a]
    before it
    """
    found, open_ = {}, {}
    for number, line in enumerate(source.splitlines(), 1):
        match = _SECTION_LINE.match(line)
        if not match:
            continue
        kind, name = match.group("type").lower(), match.group("name")
        if kind == "start":
            if name in open_ or name in found:
                raise SyntaxProblem(f"{where}:{number}: section '{name}' "
                                    "starts twice")
            open_[name] = number
        elif name not in open_:
            raise SyntaxProblem(f"{where}:{number}: [end:{name}] without "
                                f"a [start:{name}] before it")
        else:
            found[name] = (open_.pop(name) + 1, number - 1)
    if open_:
        name, number = next(iter(open_.items()))
        raise SyntaxProblem(f"{where}:{number}: section '{name}' is never "
                            "closed")
    return found


# --- includes in pages ----------------------------------------------------

@dataclass(frozen=True)
class Include:
    """One included path: ``path``, then a section name or line ranges."""

    line: int  # in the page, 1-based
    path: str
    section: str = None
    lines: str = None
    indent: str = ""

    @classmethod
    def parse(cls, target: str, line: int = 0, indent: str = ""
              ) -> "Include":
        """Split ``path[:section]`` or ``path:lines`` as pymdownx does.

        >>> Include.parse("examples/x.py:train")
        Include(line=0, path='examples/x.py', section='train', lines=None,
                indent='')
        >>> Include.parse("t/results.md").section is None
        True
        >>> Include.parse("x.py:3:9").lines
        '3:9'
        """
        path, section, lines = target, None, None
        head, sep, tail = target.rpartition(":")
        if sep and _SECTION_NAME.match(tail) and head:
            path, section = head, tail
        elif sep and head:
            # line numbers: path:start[:end][,start[:end]...]
            first, sep2, rest = target.partition(":")
            if sep2 and _LINES.match(rest):
                path, lines = first, rest
        return cls(line, path, section, lines, indent)


def includes(markdown: str) -> list[Include]:
    """Every include in a page, inline or block form, in order.

    >>> page = ('Text\\n--8<-- "a/b.md"\\n;--8<-- "no.md"\\n'
    ...         '--8<--\\nc.py:s\\n--8<--\\n')
    >>> [(i.line, i.path, i.section) for i in includes(page)]
    [(2, 'a/b.md', None), (5, 'c.py', 's')]
    """
    found, block = [], False
    for number, line in enumerate(markdown.splitlines(), 1):
        match = _INCLUDE_LINE.match(line)
        if match and match.group("escape"):
            continue
        if match and match.group("block_marker"):
            block = not block
            continue
        if match and match.group("inline_marker") and not block:
            target = match.group("snippet")[1:-1].strip()
            found.append(Include.parse(target, number, match.group("space")))
        elif block:
            target = line.strip()
            if target and not target.startswith(";"):
                found.append(Include.parse(target, number, line[
                    :len(line) - len(line.lstrip())]))
    return found


# --- values and claims in pages --------------------------------------------

@dataclass(frozen=True)
class Placeholder:
    line: int
    kind: str  # "value" or "claim"
    example: str
    key: str
    text: str  # as written


def placeholders(markdown: str, where: str = "<page>"
                 ) -> list[Placeholder]:
    """Every ``{{ ... }}`` in a page; a malformed one raises.

    >>> [(p.kind, p.example, p.key) for p in placeholders(
    ...     "a {{ ex.loss }} b{{ claim ex.lower }}")]
    [('value', 'ex', 'loss'), ('claim', 'ex', 'lower')]
    >>> placeholders("$\\frac{a}{b}}$")  # TeX's braces are not placeholders
    []
    >>> placeholders("x {{ ex.loss }", "p.md")
    Traceback (most recent call last):
    ...
    docs_plugin.syntax.SyntaxProblem: p.md:1: malformed placeholder
    '{{ ex.loss }': write {{ example.key }} or {{ claim example.name }}
    >>> placeholders("x { ex.loss }} y", "p.md")
    Traceback (most recent call last):
    ...
    docs_plugin.syntax.SyntaxProblem: p.md:1: malformed placeholder
    '{ ex.loss }} y': write {{ example.key }} or {{ claim example.name }}
    """
    found = []
    for number, line in enumerate(markdown.splitlines(), 1):
        bad = [m.start() for m in _HALF_OPEN.finditer(line)]
        for match in _OPEN.finditer(line):
            start = match.start()
            claim = CLAIM.match(line, start)
            value = None if claim else VALUE.match(line, start)
            if claim or value:
                hit = claim or value
                found.append(Placeholder(number, "claim" if claim else
                                         "value", *hit.groups(),
                                         hit.group(0)))
            else:
                bad.append(start)
        if bad:
            # show the rest of the line: the brace that is missing
            shown = line[min(bad):min(bad) + 40].rstrip()
            raise SyntaxProblem(
                f"{where}:{number}: malformed placeholder {shown!r}: "
                "write {{ example.key }} or {{ claim example.name }}")
    return found


def figures(markdown: str) -> list[tuple[str, str]]:
    """``(example, file)`` of every generated figure a page refers to.

    >>> figures("![a](generated/ex/curve.svg) and generated/ex/b.png")
    [('ex', 'curve.svg'), ('ex', 'b.png')]
    """
    return FIGURE.findall(markdown)


FIGURE_LINE = re.compile(r"^([ \t]*)!\[([^\]]*)\]\((generated/([\w-]+)/"
                         r"[\w.-]+\.svg)\)[ \t]*$", re.M)


def captioned(markdown: str, cell_of=None, entries=None) -> str:
    """Every generated figure alone on its line, as a figure with a
    caption naming the example and the cell that made it, that opens full
    size on a tap or click (the Markdown of ``md_in_html``); and every
    generated table a page includes, after a caption that names them.
    ``cell_of(example, file)`` is the code cell that made ``file`` (None
    where unknown); ``entries`` maps the cache entries that table
    includes point at to their examples.

    >>> print(captioned("Text\\n![A curve](generated/ex/c.svg)"))
    Text
    <BLANKLINE>
    <figure markdown="1">
    [![A curve](generated/ex/c.svg)](generated/ex/c.svg)
    <figcaption markdown="1">Made by the example [ex](gallery/ex.ipynb) \
    (select the figure to open it full size).</figcaption>
    </figure>
    <BLANKLINE>

    Indented (in an answer or an admonition), where ``md_in_html`` does
    not reach, the caption is a paragraph of its own:

    >>> print(captioned("    ![A](generated/ex/c.svg)",
    ...                 lambda e, f: 3).splitlines()[-2])
        *Made by cell 3 of the example [ex](gallery/ex.ipynb#cell-3) \
    (select the figure to open it full size).*

    >>> print(captioned('--8<-- "ex.1a2b/outputs/t.md"', lambda e, f: 2,
    ...                 {"ex.1a2b": "ex"}))
    *Table made by cell 2 of the example [ex](gallery/ex.ipynb#cell-2).*
    { .table-caption }
    <BLANKLINE>
    --8<-- "ex.1a2b/outputs/t.md"
    """
    cell_of = cell_of or (lambda example, file: None)

    def made_by(name, file):
        cell = cell_of(name, file)
        if cell is None:
            return f"the example [{name}](gallery/{name}.ipynb)"
        return (f"cell {cell} of the example "
                f"[{name}](gallery/{name}.ipynb#cell-{cell})")

    def figure(match):
        indent, alt, path, name = match.groups()
        caption = (f"Made by {made_by(name, path.rpartition('/')[2])} "
                   "(select the figure to open it full size).")
        if indent:  # md_in_html leaves HTML in an indented block alone
            return (f"{indent}[![{alt}]({path})]({path})\n{indent}\n"
                    f"{indent}*{caption}*\n{indent}{{: .figure-caption }}")
        return (f'\n<figure markdown="1">\n[![{alt}]({path})]({path})\n'
                f'<figcaption markdown="1">{caption}</figcaption>\n'
                "</figure>\n")

    def table(match):
        indent, entry, file = match.group(1), match.group(2), match.group(3)
        name = (entries or {}).get(entry)
        if name is None:
            return match.group(0)
        return (f"{indent}*Table made by {made_by(name, file)}.*\n"
                f"{indent}{{ .table-caption }}\n{indent}\n"
                + match.group(0))

    markdown = FIGURE_LINE.sub(figure, markdown)
    return TABLE_LINE.sub(table, markdown)


TABLE_LINE = re.compile(r'^([ \t]*)--8<-- "([\w.-]+)/outputs/([\w.-]+\.md)"'
                        r"[ \t]*$", re.M)


def figure_lines(markdown: str) -> list[tuple[int, str, str]]:
    """``(line, example, file)`` of every generated figure a page refers
    to, lines counted from 1.

    >>> figure_lines("Text\\n![a](generated/ex/curve.svg)")
    [(2, 'ex', 'curve.svg')]
    """
    return [(number, *found)
            for number, line in enumerate(markdown.splitlines(), 1)
            for found in FIGURE.findall(line)]


def without_example(markdown: str, name: str, figure: str,
                    value: str) -> str:
    """``markdown`` with example ``name``'s image links replaced by
    ``figure`` and its values and claims by ``value`` (a page whose
    example failed, while serving).

    >>> without_example("![a](generated/ex/c.svg) {{ ex.k }}{{ claim ex.b }}"
    ...                 " {{ other.k }}", "ex", "(gone)", "!")
    '(gone) !! {{ other.k }}'
    """
    markdown = _IMAGE.sub(
        lambda m: figure if m.group(1) == name else m.group(0), markdown)
    lines = markdown.split("\n")
    for placeholder in reversed(placeholders(markdown)):
        if placeholder.example == name:
            line = lines[placeholder.line - 1]
            lines[placeholder.line - 1] = line.replace(placeholder.text,
                                                       value, 1)
    return "\n".join(lines)


def examples_used(markdown: str, known, where: str = "<page>",
                  code_dir: str | None = None) -> list[str]:
    """Names in ``known`` of the examples whose outputs a page uses
    (values, claims, figures, included tables), in order of first use;
    with ``code_dir`` (say ``examples``), also those whose code it
    includes (``--8<-- "examples/<name>.py:section"``).

    >>> page = ('--8<-- "examples/a.py:s"\\n{{ b.k }}\\n'
    ...         '![f](generated/c/f.svg)\\n--8<-- "d/t.md"\\n')
    >>> examples_used(page, {"a", "b", "c", "d"})
    ['b', 'c', 'd']
    >>> examples_used(page, {"a", "b", "c", "d"}, code_dir="examples")
    ['b', 'c', 'a', 'd']
    """
    names = [p.example for p in placeholders(markdown, where)]
    names += [name for name, _ in figures(markdown)]
    for include in includes(markdown):
        first, _, rest = include.path.partition("/")
        if code_dir and first == code_dir.strip("/"):
            names.append(rest.rsplit(".", 1)[0])
        else:
            names.append(first)
    return [n for n in dict.fromkeys(names) if n in known]


def leftovers(text: str) -> list[str]:
    """Page syntax left in ``text`` (a built page): placeholders, section
    markers and includes, which the build must have replaced or dropped.

    >>> leftovers("<p>42 and {{ ex.k }}</p><code># --8<-- [start:a]</code>"
    ...           '<p>--8<-- &quot;t/x.md&quot;</p>')
    ['{{ ex.k }}', '# --8<-- [start:a]', '--8<-- &quot;t/x.md&quot;']
    >>> leftovers("$\\frac{a}{b}$ and {{ not a placeholder")
    []
    """
    found = [m.group(0) for m in VALUE.finditer(text)]
    found += [m.group(0) for m in CLAIM.finditer(text)]
    found += [m.group(0).strip() for m in _MARKER_ANYWHERE.finditer(text)]
    return found
