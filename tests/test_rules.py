"""The rules that decide claims, and the mutation test: every claim the
site records, moved to the opposite case, must fail."""

import json
import math

import pytest

from snippets.support import rules
from snippets.support.compare import Comparison
from snippets.support.rules import (
    DECREASING,
    HIGHER,
    INCREASING,
    LOWER,
    MIXED,
    UNRANKED,
    Above,
    All,
    Below,
    Equal,
    Extreme,
    Greater,
    Ordered,
    Paired,
    could_fail,
    from_record,
)
from testkit import EXAMPLES

HOLDING = [
    Paired("accuracy", "BN", [0.9, 0.8, 0.7], "plain", [0.8, 0.7, 0.6],
           HIGHER),
    Paired("loss", "BN", [0.1, 0.2], "plain", [0.3, 0.25], LOWER),
    Paired("accuracy", "BN", [0.9, 0.6], "plain", [0.8, 0.7], MIXED),
    Paired("accuracy", "BN", [0.9, 0.7], "plain", [0.8, 0.7], UNRANKED),
    Paired("steps", "BN", [100, 200], "plain", [300, 300], LOWER,
           floor=100),
    Below("error", 0.0, 1e-12),
    Below("error", -3.0, -1.0),
    Above("gain", 0.5, 0.0),
    Greater("a", 3.0, "b", 1.0),
    Greater("a", 30.0, "b", 1.0, factor=10, margin=1),
    Equal("changed weights", 0.0, 0.0),
    Equal("count", 7, 7),
    Ordered("error", ["1", "2", "3"], [3, 2, 1], DECREASING),
    Ordered("error", ["1", "2"], [-1, 5], INCREASING),
    Extreme("accuracy", {"a": 1, "b": 2, "c": 3}, "c", HIGHER),
    Extreme("accuracy", {"a": 1, "b": 2}, "a", LOWER),
    All([Below("error", 1e-9, 1e-6), Greater("a", 2.0, "b", 1.0)]),
]


@pytest.mark.parametrize("rule", HOLDING, ids=lambda r: r.words)
def test_each_rule_holds_and_fails_in_the_opposite_case(rule):
    assert rule.holds
    assert rule.opposites()
    assert not any(o.holds for o in rule.opposites())
    assert could_fail(rule) is None
    assert from_record(json.loads(json.dumps(rule.record()))) == rule


def test_a_paired_rule_reads_the_pairs_not_the_overlap():
    # Every BN run is below every plain run's best, but BN is lower on
    # every seed: an overlap test said "noise", the paired rule does not.
    bn, plain = [0.80, 0.84, 0.86], [0.83, 0.86, 0.87]
    assert Comparison(bn, plain).verdict == "worse"
    assert Paired("acc", "BN", bn, "plain", plain, LOWER).holds
    assert not Paired("acc", "BN", bn, "plain", plain, MIXED).holds


def test_within_noise_needs_seeds_that_disagree_in_sign():
    assert not Paired("a", "x", [1, 1], "y", [1, 1], MIXED).holds
    assert not Paired("a", "x", [1, 2], "y", [1, 1], MIXED).holds
    # a tie on one seed is enough not to rank, not to say "within noise"
    assert Paired("a", "x", [1, 2], "y", [1, 1], UNRANKED).holds
    assert not Paired("a", "x", [2, 2], "y", [1, 1], UNRANKED).holds
    assert Comparison([1, 2], [1, 1]).verdict == "tied"


@pytest.mark.parametrize("rule, flaw", [
    (Paired("a", "x", [1.0], "y", [2.0], LOWER), "one seed"),
    (Paired("s", "x", [5, 5], "y", [5, 5], LOWER, floor=5),
     "every run is at the first value"),
    (Paired("a", "x", [math.nan, 1], "y", [0, 0], HIGHER), "not a finite"),
    (Below("e", 0.5, math.inf), "bound is not a finite number"),
    (Ordered("e", ["1"], [1], INCREASING), "two or more"),
    (Extreme("e", {"a": 1}, "a", LOWER), "two or more"),
    (All([Below("e", 1, 2), Below("e", 1, math.inf)]), "not a finite"),
])
def test_evidence_that_cannot_carry_a_verdict_is_named(rule, flaw):
    assert flaw in could_fail(rule)


def test_a_rule_that_holds_whatever_the_evidence_is_caught():
    weak = Greater("a", -1, "b", -5, factor=10)
    assert weak.holds
    assert "still holds" in could_fail(weak)
    assert "still holds" in could_fail(All([Below("e", 1, 2), weak]))


@pytest.mark.parametrize("bad", [
    lambda: Paired("a", "x", [1, 2], "y", [1], HIGHER),
    lambda: Paired("a", "x", [1], "y", [1], "up"),
    lambda: Greater("a", 1, "b", 0, factor=0.5),
    lambda: Greater("a", 1, "b", 0, margin=-1),
    lambda: Extreme("a", {"x": 1}, "y", LOWER),
    lambda: Ordered("a", ["1", "2"], [1], INCREASING),
    lambda: All([]),
])
def test_rules_refuse_malformed_evidence(bad):
    with pytest.raises(ValueError):
        bad()


# --- the mutation test, on every claim the site records ----------------------

@pytest.mark.site
def test_every_recorded_claim_is_decided_by_its_rule_and_could_fail(build):
    claims = {(path.stem, name): claim
              for path in sorted(EXAMPLES.glob("*.py"))
              if (build.outputs(path.stem) / "claims.json").exists()
              for name, claim in json.loads(
                  (build.outputs(path.stem) / "claims.json").read_text()
              ).items()}
    assert len(claims) > 100  # every example's claims, not a few
    for (name, claim_name), claim in claims.items():
        rule = from_record(claim["check"])
        where = f"{name}.{claim_name}"
        assert rule.holds == claim["holds"], where
        assert [list(e) for e in rule.evidence] == claim["evidence"], where
        opposites = rule.opposites()
        assert opposites, where
        for opposite in opposites if rule.holds else ():
            assert not opposite.holds, f"{where} holds in {opposite}"
        # a flaw is allowed in fast mode's small runs, never a rule whose
        # opposite holds (checked above); the full build refuses flaws
        assert claim["weakness"] == rule.flaw(), where


def test_every_rule_kind_is_known_to_from_record():
    assert set(rules.RULES) == {cls.__name__ for cls in (
        Paired, Below, Above, Greater, Equal, Ordered, Extreme, All)}
