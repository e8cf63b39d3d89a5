"""The notebook stylesheet cut down to the rules the gallery pages can use.

nbconvert's template ships all of JupyterLab's styles (about 600 KB): the
file browser, menus, dialogs, widgets, editors. A static gallery page has
none of these, and nothing on it adds classes at run time (no JupyterLab
script runs there). So a rule is kept when one of its selectors uses only
classes that occur in the pages' HTML; at-rules that hold rules
(``@media``, ``@supports``) are cut the same way, and the others
(``@font-face``, ``@keyframes``, ``@charset``) are kept. Then the custom
properties no kept rule reads (``var(--jp-...)``, directly or through
another property) are left out: most of what is left is JupyterLab's
icons, as data URIs in properties.
"""

from __future__ import annotations

import re

import tinycss2

CLASS_ATTRIBUTE = re.compile(r'\bclass="([^"]*)"')
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_NESTING = {"media", "supports", "layer", "container"}
_VAR = re.compile(r"var\(\s*(--[\w-]+)")


def classes_in(html: str) -> set[str]:
    """The class names an HTML page uses.

    >>> sorted(classes_in('<div class="a b"><p class="c">x</p></div>'))
    ['a', 'b', 'c']
    """
    return {name for value in CLASS_ATTRIBUTE.findall(html)
            for name in value.split()}


def _selectors(prelude) -> list[str]:
    """A rule's selectors, split at the commas between them (not those
    inside ``:not(a, b)``)."""
    parts, current = [], []
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            parts.append(tinycss2.serialize(current).strip())
            current = []
        else:
            current.append(token)
    parts.append(tinycss2.serialize(current).strip())
    return [p for p in parts if p]


def prune(css: str, used: set[str]) -> str:
    """``css`` with the rules no page can match left out.

    >>> prune(".a{x:1}.zz{y:2}.a .b,.zz .a{z:3}"
    ...       "@media (max-width:9px){.zz{w:4}.a{v:5}}", {"a", "b"})
    '.a{x:1}.a .b{z:3}@media (max-width:9px){.a{v:5}}'
    """
    def kept(rule):
        selectors = [s for s in _selectors(rule.prelude)
                     if set(_CLASS.findall(s)) <= used]
        return selectors and (",".join(selectors) + "{"
                              + tinycss2.serialize(rule.content).strip()
                              + "}")
    return _write(_tree(css), kept)


def without_unused_properties(css: str) -> str:
    """``css`` without the custom properties nothing reads.

    >>> without_unused_properties(
    ...     ".a{--x:1;--y:var(--x);--z:2;color:var(--y)}")
    '.a{--x:1;--y:var(--x);color:var(--y)}'
    """
    rules = _tree(css)
    blocks = list(_blocks(rules))
    read = _read_properties(blocks)
    content = {id(rule): ";".join(
        f"{d.name}:{tinycss2.serialize(d.value).strip()}"
        + ("!important" if d.important else "")
        for d in declarations
        if not d.name.startswith("--") or d.name in read)
        for rule, declarations in blocks}
    return _write(rules, lambda rule: content[id(rule)] and (
        tinycss2.serialize(rule.prelude).strip()
        + "{" + content[id(rule)] + "}"))


def _parse(css):
    return tinycss2.parse_stylesheet(css, skip_comments=True,
                                     skip_whitespace=True)


def _tree(css):
    """The rules of ``css``, the content of nesting at-rules (``@media``)
    parsed into rules too, in place."""
    rules = _parse(css)
    for rule in rules:
        if _nests(rule):
            rule.content = _tree(rule.content)
    return rules


def _nests(rule) -> bool:
    return rule.type == "at-rule" and bool(rule.content) and \
        rule.lower_at_keyword in _NESTING


def _blocks(rules):
    """``(rule, declarations)`` of every qualified rule of a ``_tree``,
    nested ones too."""
    for rule in rules:
        if rule.type == "qualified-rule":
            yield rule, [d for d in tinycss2.parse_declaration_list(
                rule.content, skip_comments=True, skip_whitespace=True)
                if d.type == "declaration"]
        elif _nests(rule):
            yield from _blocks(rule.content)


def _read_properties(blocks) -> set[str]:
    """The custom properties some rule reads, directly or through another
    custom property that is read."""
    defined, read = {}, set()
    for _, declarations in blocks:
        for d in declarations:
            refs = _VAR.findall(tinycss2.serialize(d.value))
            if d.name.startswith("--"):
                defined.setdefault(d.name, set()).update(refs)
            else:
                read.update(refs)
    frontier = set(read)
    while frontier:
        frontier = {v for name in frontier
                    for v in defined.get(name, ())} - read
        read |= frontier
    return read


def _write(rules, text_of) -> str:
    """A ``_tree`` written back: each qualified rule as ``text_of(rule)``
    says ("" leaves it out), nesting at-rules around what is left of them,
    other at-rules as they were."""
    out = []
    for rule in rules:
        if rule.type == "qualified-rule":
            out.append(text_of(rule) or "")
        elif _nests(rule):
            inner = _write(rule.content, text_of)
            if inner:
                out.append(f"@{rule.at_keyword}"
                           + tinycss2.serialize(rule.prelude).rstrip()
                           + "{" + inner + "}")
        else:
            out.append(rule.serialize())
    return "".join(out)
