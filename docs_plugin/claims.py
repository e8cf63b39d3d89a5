"""Claims: sentences whose truth depends on a run.

A page ends such a sentence with ``{{ claim <example>.<name> }}``; the
example records its verdict and evidence (``Report.claim``). Here the
build collects every stated claim with its sentence (``collect``), refuses
a claim stated but never evaluated or evaluated but stated nowhere, fails
a full-size build on a claim that does not hold, renders each mark
(``mark``) and writes the *Claims checked* page (``page``).
"""

import logging
import posixpath
import re

from mkdocs.exceptions import PluginError

from docs_plugin import syntax, wording
from docs_plugin.examples import no_such_example
from docs_plugin.gallery import nav_pages, page_url
from snippets.support import rules

PAGE = "claims.md"
log = logging.getLogger("mkdocs.plugins.examples")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`*$\[])")


def anchor(example: str, name: str) -> str:
    return f"claim-{example}-{name}".replace("_", "-")


def evidence_text(evidence) -> str:
    """``[[label, value], ...]`` as ``label: value; label: value``."""
    return "; ".join(f"{label}: {value}" for label, value in evidence)


def sentence_of(markdown: str, line: int, marker: str) -> str:
    r"""The sentence that ``marker`` (on ``line``, 1-based) closes: its
    paragraph, joined into one line, cut at sentence ends.

    >>> text = "# T\n\nFirst one. The second\nholds {{ claim a.b }}. Third."
    >>> sentence_of(text, 4, "{{ claim a.b }}")
    'The second holds.'
    """
    lines = markdown.split("\n")
    start = end = line - 1
    while start > 0 and lines[start - 1].strip() and not lines[
            start - 1].lstrip().startswith(("#", "!!!", "???", "|", "```")):
        start -= 1
    while end + 1 < len(lines) and lines[end + 1].strip():
        end += 1
    paragraph = " ".join(re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", text).strip()
                         for text in lines[start:end + 1])
    before, _, _ = paragraph.partition(marker)
    # the sentence is what follows the last sentence end before the marker,
    # up to the marker (its full stop comes right after the marker)
    pieces = SENTENCE_END.split(before)
    sentence = pieces[-1].strip()
    after = paragraph[len(before) + len(marker):]
    stop = re.match(r"[.!?:;,)]*", after).group(0)
    sentence = syntax.CLAIM.sub("", sentence)
    return (sentence + stop).strip()


def collect(state, files, substitute, page_error=None) -> list[dict]:
    """Every ``{{ claim example.name }}`` on the pages, with the sentence
    it marks (its values filled in by ``substitute(markdown, where,
    placeholders)``). A claim a page states that no example evaluated, or
    one an example evaluated that no page states, is an error; in a
    full-size build so is a stated claim that does not hold.

    Errors fail the build; given ``page_error(where, message)`` (serving),
    each is handed to it instead (``where``: the page, or None), and the
    claims of a page with an error are left out."""
    stated, (supports, found_problems) = [], _recheck_all(state.claims)
    problems = [(None, problem) for problem in found_problems]
    for file in files.documentation_pages():
        if file.src_uri.endswith(".md") and not file.generated_by:
            page_stated, page_problems = _page_claims(
                state, file, substitute, supports)
            stated += page_stated
            problems += [(file.src_uri, p) for p in page_problems]
    used = {(c["example"], c["name"]) for c in stated}
    faulty = {where for where, _ in problems} - {None}
    # a page with an error stated claims that were not collected
    for example, claims in [] if faulty else sorted(state.claims.items()):
        problems += [(None, f"claim {example}.{name} is evaluated but no "
                      "page states it") for name in sorted(claims)
                     if (example, name) not in used]
    if problems and page_error is None:
        raise PluginError("\n".join(message for _, message in problems))
    for where, message in problems:
        page_error(where, message)
    stated = [c for c in stated if c["page"].src_uri not in faulty]
    _give_anchors(stated)
    for claim in (c for c in stated if not c["holds"]):
        why = (f"its evidence cannot carry a verdict: {claim['flaw']}"
               if claim["flaw"] else "does not hold")
        message = (f"{claim['page'].src_uri}:{claim['line']}: claim "
                   f"{claim['example']}.{claim['name']} {why}: "
                   f"\"{claim['sentence']}\" (rule: {claim['rule']}; "
                   f"evidence: {evidence_text(claim['evidence'])})")
        if state.settings.fast:
            log.info(f"{message} [fast mode: reported, not enforced]")
        elif page_error is None:
            raise PluginError(message)
        else:
            page_error(claim["page"].src_uri, message)
    return stated


def _page_claims(state, file, substitute, supports):
    """``(stated, problems)``: the claims one page states, and what is
    wrong with its syntax, its values, its claims or its words."""
    markdown, where = file.content_string, file.src_uri
    try:
        found = syntax.placeholders(markdown, where)
        text = substitute(markdown, where, found)
    except (syntax.SyntaxProblem, PluginError) as error:
        return [], [str(error)]
    stated, problems = [], wording.check(text, where, supports)
    for placeholder in found:
        if placeholder.kind != "claim" or \
                placeholder.example in state.failures:
            continue  # serving: its page shows the failure instead
        example, name = placeholder.example, placeholder.key
        claim = state.claims.get(example, {}).get(name)
        if claim is None and example not in state.by_name:
            problems.append(
                f"{where}:{placeholder.line}: {placeholder.text}: "
                + no_such_example(example, state.by_name, state.code_dir))
            continue
        if claim is None:
            known = ", ".join(sorted(state.claims.get(example, {})))
            problems.append(
                f"{where}:{placeholder.line}: claim {example}.{name} "
                f"is never evaluated (claims of {example}: "
                f"{known or 'none'})")
            continue
        stated.append({
            "page": file, "line": placeholder.line, "example": example,
            "name": name, "sentence": sentence_of(
                text, placeholder.line, placeholder.text), **claim})
    return stated, problems


def _recheck_all(claims_by_example):
    """``(supports, problems)``: what verdict words each claim's rule
    supports, and every claim whose record fails ``_recheck``."""
    supports, problems = {}, []
    for example, claims in sorted(claims_by_example.items()):
        for name, claim in claims.items():
            problem = _recheck(claim)
            if problem:
                problems.append(f"claim {example}.{name}: {problem}")
            else:
                supports[example, name] = claim["supports"]
    return supports, problems


def _recheck(claim):
    """Decide ``claim`` (as an example recorded it) again from its rule's
    record, so that the page shows exactly what the rule decided on. Notes
    on ``claim`` whether its evidence is flawed (it then counts as not
    holding) and what verdict words its rule supports; returns a problem
    that fails every build: a record that does not match its rule, or a
    rule that would hold with its evidence moved to the opposite case."""
    try:
        rule = rules.from_record(claim["check"])
    except (KeyError, TypeError, ValueError) as error:
        return f"its rule cannot be read back ({error!r})"
    shown = [[str(label), str(value)] for label, value in rule.evidence]
    recorded = claim.setdefault("recorded", claim["holds"])
    if (rule.holds, rule.words, shown) != (recorded, claim["rule"],
                                           claim["evidence"]):
        return "its recorded verdict or evidence differs from its rule's"
    still = [o.evidence for o in rule.opposites()
             if rule.holds and o.holds]
    if still:
        return ("its rule could never fail: it still holds with its "
                f"evidence moved to the opposite case ({still[0]})")
    claim["flaw"] = rule.flaw()
    claim["holds"] = rule.holds and not claim["flaw"]
    claim["supports"] = set(rule.supports)
    return None


def _give_anchors(stated):
    """One row, one anchor, for each statement: a claim stated on two pages
    has two rows, the second's anchor numbered."""
    taken = set()
    for claim in stated:
        base = anchor(claim["example"], claim["name"])
        claim["anchor"], number = base, 1
        while claim["anchor"] in taken:
            number += 1
            claim["anchor"] = f"{base}-{number}"
        taken.add(claim["anchor"])


def mark(state, placeholder, page_uri) -> str:
    """The Markdown of a claim's mark on page ``page_uri``: a check or a
    cross linking to its row on the claims page."""
    claim = state.claims[placeholder.example][placeholder.key]
    to_claims = posixpath.relpath(PAGE, posixpath.dirname(page_uri) or ".")
    target = next((c["anchor"] for c in state.stated
                   if c["page"].src_uri == page_uri
                   and c["line"] == placeholder.line
                   and (c["example"], c["name"]) == (placeholder.example,
                                                     placeholder.key)),
                  anchor(placeholder.example, placeholder.key))
    held = claim["holds"]
    title = (f"Claim {placeholder.example}.{placeholder.key} "
             f"{'held' if held else 'did NOT hold'} in this build. "
             f"Rule: {claim['rule']}. Evidence: "
             f"{evidence_text(claim['evidence'])}")
    title = title.replace("\\", "/").replace('"', "'")
    # what a screen reader says instead of "check mark": what was checked
    # and whether it held (the evidence is one tap away, on the claims page)
    label = (f"Claim {'held' if held else 'did not hold'} in this build: "
             f"{claim['rule']}. Evidence on the claims page")
    label = label.replace("\\", "/").replace('"', "'").replace("}", ")")
    # its own id, so that the claims page links back to this sentence
    return (f'[{"✓" if held else "✗"}]({to_claims}#{target} "{title}")'
            f'{{ #mark-{target} .claim .claim-{"held" if held else "failed"} '
            f'aria-label="{label}" }}')


def page(state, nav) -> str:
    """The *Claims checked* page: every stated claim, by page."""
    held = sum(c["holds"] for c in state.stated)
    mode = ("fast mode (`DOCS_FAST=1`): claims are evaluated and "
            "reported, not enforced, and the small runs need not bear "
            "them out" if state.settings.fast else
            "full size: a claim that does not hold fails the build")
    lines = [
        # every sentence is on its own page already: search finds it there
        "---", "hide:", "  - toc", "search:", "  exclude: true", "---", "",
        "# Claims checked", "",
        "Every sentence on this site whose truth depends on a run ends "
        "with a mark that links here. The example named next to it "
        "builds a rule from its own numbers, and the rule decides "
        "whether the sentence holds. Each row below gives the rule in "
        "words and exactly the numbers it decided on. This site was "
        f"built in {mode}.", "",
        f"**{held} of {len(state.stated)} claims held in this build.**",
        "", "The rules come from one small library, "
        "`snippets/support/rules.py`, and each one is tested the other way "
        "too: moved to the opposite case (the two sides of a comparison "
        "swapped, a value mirrored across its bound), it must fail, or "
        "the build refuses it as a check that could never fail.", "",
        "Comparisons across seeds are paired, because one seed gives "
        "every variant the same batches (`snippets/support/compare.py`): "
        "the evidence is the difference on each seed, its mean and range, "
        "and how many seeds agree in sign. *On every seed* is said only "
        "when all of them agree; *within seed-to-seed noise* only when "
        "they disagree in sign. These describe the runs, they do not "
        "prove an effect: " + _chance_sentence(state.stated), ""]
    titles = {path: title for title, path in nav_pages(nav)}
    by_page = {}
    for claim in state.stated:
        by_page.setdefault(claim["page"].src_uri, []).append(claim)
    for uri, claims in by_page.items():
        lines += [f"## {titles.get(uri, uri)}", "",
                  "| | Sentence | Checked by | Rule | Evidence |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [_row(c, uri, titles.get(uri, uri)) for c in claims] + [""]
    return "\n".join(lines)


def seed_counts(check) -> set[int]:
    """How many seeds the paired comparisons in a claim's rule record
    (``check``) have, ``All``'s parts included."""
    args = check.get("args", {})
    if check.get("rule") == "Paired":
        return {len(args.get("values", []))}
    return {n for part in args.get("parts", []) for n in seed_counts(part)}


def _chance_sentence(stated) -> str:
    """How often seeds would all agree in sign by chance, for the numbers
    of seeds the paired claims of this build have (one in 2**(n-1): each
    seed's difference is as likely positive as negative)."""
    counts = sorted({n for c in stated for n in seed_counts(c["check"])
                     if n > 1})
    if not counts:
        return "no claim of this build compares seeds."
    chances = "; with ".join(f"{n} seeds, one time in {2 ** (n - 1)}"
                             for n in counts)
    return ("a difference with no real effect behind it would still agree "
            f"in sign on every seed, with {chances}.")


def _row(claim, uri, title):
    example, name = claim["example"], claim["name"]
    sentence = claim["sentence"].replace("|", "\\|")
    evidence = evidence_text(claim["evidence"]).replace("|", "\\|")
    rule = claim["rule"].replace("|", "\\|")
    if claim["flaw"]:
        rule += f" (not a verdict: {claim['flaw']})"
    return (f"| {'✓' if claim['holds'] else '✗'} | {sentence} "
            f"([on {title}]({uri}#mark-{claim['anchor']})) | "
            f"`{example}.{name}`"
            f"{{ #{claim['anchor']} }} in "
            f"[{example}]({page_url(example)}) | {rule} | {evidence} |")
