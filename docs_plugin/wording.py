"""Words tied to rules: a verdict phrase in a page's sentence needs a claim
whose rule supports it.

The vocabulary below is the site's fixed set of verdict phrases, each of a
kind that a rule in ``snippets/support/rules.py`` names in its
``supports``. In a sentence that ends with claims, every kind of verdict
phrase it uses must be supported by one of those claims' rules: "within
seed-to-seed noise" needs a paired rule that found the seeds disagreeing
in sign, "on every seed" a paired rule over every seed, "faster" or
"higher" a rule with a direction, "the same" or "matches" a rule of
agreement. The strong phrases ("on every seed", "within seed-to-seed
noise") need a claim even in a sentence that has none, and words that
three seeds cannot carry ("significant", "proves") are refused anywhere.
The check reads only the wording and the rules' kinds, so it runs in fast
builds too.
"""

import re

from docs_plugin import syntax

SEEDS = r"(?:\d+|two|three|four|five|six|eight|ten|\{\{[^}]*\}\})"
VOCABULARY = {
    "every-seed": re.compile(
        r"\b(?:on|for|in|across) (?:every|each) seed\b|\bevery seed of\b"
        r"|\b(?:on|for|in|across) all " + SEEDS + r" seeds\b"
        r"|\b(?:on|for|in) each of the " + SEEDS + r" seeds\b", re.I),
    "noise": re.compile(r"seed-to-seed noise|\bseeds disagree\b", re.I),
    "unranked": re.compile(
        r"\bcannot rank\b|\bnot ranked\b|\bdo(?:es)? not rank\b"
        r"|\bdid not rank\b", re.I),
    "direction": re.compile(
        r"\b(?:higher|lower|better|worse|faster|slower|sooner|ahead|behind"
        r"|outperforms?|beats?)\b", re.I),
    "same": re.compile(
        r"\b(?:the same|identical|match(?:es|ed)?|agrees?|equals?)\b",
        re.I),
}
NEEDS_A_CLAIM = ("every-seed", "noise", "unranked")
REFUSED = re.compile(
    r"\b(?:significant(?:ly)?(?! (?:bits|digits|figures))|statistically"
    r"|prove[sdn]?)\b", re.I)
WHY_REFUSED = ("the site's runs describe, they do not test a hypothesis "
               "(see snippets/support/compare.py): say on how many seeds "
               "and by how much instead")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`*$\[{])")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
SKIP = ("#", "|", "!!!", "???", "<", "--8<--", "![", "[^")
INLINE_CODE = re.compile(r"`[^`]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
MATH = re.compile(r"\$\$?[^$]*\$\$?")
MENTION = re.compile(r"(?<![*\w])\*([^*]+)\*(?![*\w])")


def sentences(markdown):
    """``(line, sentence)`` for the prose of a page: paragraphs and list
    items outside code blocks, cut at sentence ends; ``line`` is where the
    sentence starts (1-based).

    >>> text = "# T\\n\\nOne two. Three\\nfour.\\n\\n```\\nx = 1.\\n```\\n- a"
    >>> list(sentences(text))
    [(3, 'One two.'), (3, 'Three four.'), (9, 'a')]
    >>> list(sentences('A b.\\nC d. E\\nf.'))
    [(1, 'A b.'), (2, 'C d.'), (2, 'E f.')]
    """
    block, fenced = [], False
    lines = markdown.split("\n")
    for number, line in enumerate(lines + [""], 1):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            line = stripped = ""
        new_item = bool(LIST_ITEM.match(line))
        if fenced or not stripped or stripped.startswith(SKIP) or new_item:
            yield from _split(block)
            block = []
            if fenced or not stripped or stripped.startswith(SKIP):
                continue
        block.append((number, LIST_ITEM.sub("", stripped)))


def _split(block):
    """The sentences of a paragraph given as ``[(line, text), ...]``, each
    with the line it starts on."""
    paragraph, starts = "", []
    for number, text in block:
        starts.append((len(paragraph), number))
        paragraph += text + " "
    offset = 0
    for sentence in SENTENCE_END.split(paragraph):
        at = paragraph.index(sentence, offset)
        offset = at + len(sentence)
        if sentence.strip():
            line = max(n for start, n in starts if start <= at)
            yield line, sentence.strip()


def prose_of(sentence):
    """The words of a sentence a reader reads, as verdicts: without claim
    marks, code, math and link targets, and without a verdict phrase set
    alone in italics, which names the phrase rather than states it (*within
    seed-to-seed noise* means ...).

    >>> prose_of("We say *within seed-to-seed noise* when `x`.")
    'We say   when  .'
    """
    for pattern in (syntax.CLAIM, INLINE_CODE, MATH, LINK_TARGET):
        sentence = pattern.sub(" ", sentence)
    return MENTION.sub(lambda m: " " if len(m.group(1).split()) <= 4 and any(
        p.search(m.group(1)) for p in VOCABULARY.values()) else m.group(0),
        sentence)


def check(markdown, where, supports_of):
    """Problems with the verdict words of page ``where``; ``supports_of``
    maps ``(example, name)`` to the kinds its claim's rule supports.

    >>> rules = {("a", "b"): {"direction", "every-seed"},
    ...          ("a", "n"): {"noise"}}
    >>> check("BN is higher on every seed {{ claim a.b }}.", "p.md", rules)
    []
    >>> print(*check("BN is within seed-to-seed noise {{ claim a.b }}.",
    ...              "p.md", rules))  # doctest: +NORMALIZE_WHITESPACE
    p.md:1: "seed-to-seed noise" is stronger than its claims' rules
    support (a.b supports: direction, every-seed)
    >>> check("BN was ahead on every seed.", "p.md", rules)
    ['p.md:1: "on every seed" states a verdict but no claim checks it']
    >>> check("This proves it {{ claim a.n }}.", "p.md", rules)[0][:30]
    'p.md:1: "proves" is not a word'
    """
    problems = []
    for line, sentence in sentences(markdown):
        claims = [(m.group(1), m.group(2))
                  for m in syntax.CLAIM.finditer(sentence)]
        words = prose_of(sentence)
        for found in REFUSED.finditer(words):
            problems.append(f'{where}:{line}: "{found.group(0)}" is not a '
                            f"word for a verdict here: {WHY_REFUSED}")
        supported = set().union(*(supports_of.get(c, set())
                                  for c in claims))
        for kind, pattern in VOCABULARY.items():
            found = pattern.search(words)
            if not found:
                continue
            phrase = found.group(0)
            if not claims:
                if kind in NEEDS_A_CLAIM:
                    problems.append(f'{where}:{line}: "{phrase}" states a '
                                    "verdict but no claim checks it")
            elif kind not in supported:
                named = "; ".join(
                    f"{e}.{n} supports: "
                    f"{', '.join(sorted(supports_of.get((e, n), ()))) or '-'}"
                    for e, n in claims)
                problems.append(f'{where}:{line}: "{phrase}" is stronger '
                                f"than its claims' rules support ({named})")
    return problems
