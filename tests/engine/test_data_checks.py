"""The table checked against the program: Literal choices, case, empty inputs, conflicts, folded leaks,
near-duplicates across splits."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import data_checks, datasets
from engine.programs import ProgramSpec, stage_from_signature

PROGRAM = ProgramSpec(stages=[stage_from_signature(
    "review -> sentiment: Literal['positive', 'negative']", name="classify")])


def table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, dtype="str").fillna("")
    for column in ("split", "slices"):
        if column not in frame:
            frame[column] = "train" if column == "split" else ""
    return frame[["id", "split", "slices", "review", "sentiment"]].astype("str")


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_clean_table_has_no_findings():
    frame = table([{"id": "a", "review": "good", "sentiment": "positive"},
                   {"id": "b", "review": "bad", "sentiment": "negative", "split": "test"}])
    assert data_checks.check_table(frame, PROGRAM) == []


def test_value_outside_the_literal_choices_is_named_with_its_rows():
    frame = table([{"id": "a", "review": "fine I guess", "sentiment": "mixed"},
                   {"id": "b", "review": "good", "sentiment": "positive"},
                   {"id": "c", "review": "meh", "sentiment": "mixed"}])
    [finding] = data_checks.check_table(frame, PROGRAM)
    assert finding.kind == "choices" and finding.field == "sentiment" and finding.count == 2
    assert finding.rows == [0, 2] and finding.ids == ("a", "c") and not finding.blocking
    assert "2 rows have `sentiment` 'mixed'" in finding.message
    assert "not one of its choices ('positive', 'negative')" in finding.message


def test_differently_cased_label_says_so_and_offers_the_fix():
    frame = table([{"id": "a", "review": "great", "sentiment": "Positive"},
                   {"id": "b", "review": "bad", "sentiment": "negative"}])
    [finding] = data_checks.check_table(frame, PROGRAM)
    assert finding.kind == "case" and finding.fix == {"from": "Positive", "to": "positive"}
    assert "the choice is 'positive'" in finding.message and finding.rows == [0]
    fixed = data_checks.apply_case_fix(frame, finding)
    assert fixed["sentiment"].tolist() == ["positive", "negative"]
    assert frame["sentiment"].tolist() == ["Positive", "negative"]  # the fix is a new frame
    assert data_checks.check_table(fixed, PROGRAM) == []


def test_empty_inputs_are_counted_and_named():
    rows = [{"id": f"r{i}", "review": " " if i % 2 else "", "sentiment": "positive"} for i in range(40)]
    rows.append({"id": "full", "review": "nice", "sentiment": "positive"})
    findings = data_checks.check_table(table(rows), PROGRAM)
    assert kinds(findings) == ["empty"]
    assert findings[0].message.startswith("40 rows have an empty `review`")
    assert findings[0].count == 40 and 40 not in findings[0].rows


def test_identical_inputs_with_conflicting_labels_in_one_split_count_groups():
    rows = [
        {"id": "a1", "review": "Broke in a day.", "sentiment": "negative"},
        {"id": "a2", "review": "broke in a day", "sentiment": "positive"},
        {"id": "a3", "review": "broke in  a day!", "sentiment": "negative"},
        {"id": "b1", "review": "love it", "sentiment": "positive"},
        {"id": "b2", "review": "Love it", "sentiment": "negative"},
        {"id": "c1", "review": "same label", "sentiment": "positive"},
        {"id": "c2", "review": "same label", "sentiment": "positive"},
    ]
    [finding] = data_checks.check_table(table(rows), PROGRAM)
    assert finding.kind == "conflict" and finding.count == 2
    assert finding.groups == ((0, 1, 2), (3, 4))
    assert finding.message.startswith("2 groups of identical inputs have different `sentiment`")


def test_same_inputs_with_different_labels_in_different_splits_are_not_a_conflict():
    rows = [{"id": "a", "review": "ok", "sentiment": "positive", "split": "train"},
            {"id": "b", "review": "ok", "sentiment": "negative", "split": ""}]
    assert "conflict" not in kinds(data_checks.check_table(table(rows), PROGRAM))


def test_rows_with_every_input_empty_are_not_a_conflict_group():
    rows = [{"id": "a", "review": "", "sentiment": "positive"},
            {"id": "b", "review": "", "sentiment": "negative"}]
    assert kinds(data_checks.check_table(table(rows), PROGRAM)) == ["empty"]


def test_leak_catches_inputs_equal_after_folding_case_punctuation_and_spacing():
    frame = table([{"id": "a", "review": "sturdy and well  made!", "sentiment": "positive", "split": "train"},
                   {"id": "b", "review": "Sturdy and well made", "sentiment": "positive", "split": "test"}])
    leaks = datasets.find_leaks(frame, ["review"])
    assert leaks == [datasets.Leak("inputs", ("a", "b"), ("train", "test"), (0, 1))]
    with pytest.raises(datasets.LeakageError):
        datasets.check_no_leaks(frame, ["review"])
    # a folded-equal pair is a leak (blocking), never also a near-duplicate warning
    assert "near_duplicate" not in kinds(data_checks.check_table(frame, PROGRAM))


PUNCTUATION = list("!?.,;:'\"-()[]{}…—–«»¿¡")


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=8),
                      min_size=1, max_size=6),
       marks=st.lists(st.sampled_from(PUNCTUATION), min_size=6, max_size=6),
       gaps=st.lists(st.sampled_from([" ", "  ", "\t", " \n "]), min_size=6, max_size=6),
       upper=st.booleans())
def test_property_folding_key_ignores_case_punctuation_and_spacing(words, marks, gaps, upper):
    plain = " ".join(words)
    varied = "".join(f"{w}{m}{g}" for w, m, g in zip(words, marks, gaps, strict=False))
    varied = varied.upper() if upper and varied.upper().lower() == varied.lower() else varied
    keys = datasets.normalize_text(pd.Series([plain, varied, "  " + varied], dtype="str")).tolist()
    assert keys[0] == keys[1] == keys[2]
    assert datasets.normalize_text(pd.Series([keys[0]], dtype="str")).tolist() == [keys[0]]  # idempotent


def test_near_duplicates_across_splits_are_a_warning_with_the_pairs():
    rows = [
        {"id": "t1", "review": "the best kettle I have ever owned", "sentiment": "positive", "split": "train"},
        {"id": "v1", "review": "the best kettle I have ever ownd", "sentiment": "positive", "split": "test"},
        {"id": "t2", "review": "arrived broken, box crushed", "sentiment": "negative", "split": "train"},
        {"id": "v2", "review": "lovely colour and quiet", "sentiment": "positive", "split": "test"},
        {"id": "t3", "review": "the best kettle I have ever ownd", "sentiment": "positive", "split": "train"},
    ]
    [finding] = data_checks.check_table(table(rows), PROGRAM)
    assert finding.kind == "near_duplicate" and not finding.blocking
    assert finding.pairs == (("t1", "v1"),) and finding.groups == ((0, 1),)
    assert "t1 (train) ~ v1 (test)" in finding.message


def test_near_duplicates_in_a_big_table_compare_only_buckets_and_say_so(monkeypatch):
    monkeypatch.setattr(data_checks, "NEAR_FULL_PAIRS", 100)
    rows = [{"id": f"x{i}", "review": f"review number {i} of many {i * 7919 % 1000}",
             "sentiment": "positive", "split": "train" if i % 2 else "test"} for i in range(60)]
    rows.append({"id": "dup", "review": "review number 1 of many 919!", "sentiment": "positive", "split": "test"})
    rows.append({"id": "near", "review": "review number 3 of many 757x", "sentiment": "positive", "split": "test"})
    findings = data_checks.near_duplicates(table(rows), ["review"])
    [finding] = findings
    assert ("x3", "near") in finding.pairs
    assert ("x1", "dup") not in finding.pairs  # folded equal: that one is a leak
    assert "only rows sharing their first or last" in finding.message


@pytest.mark.slow
def test_checks_on_a_million_rows_stay_fast():
    n = 1_000_000
    rng = np.random.default_rng(3)
    words = np.array(["refund", "my", "Order", "please", "café", "help", "now", "thanks", "kettle", "works"])
    text = [" ".join(row) for row in words[rng.integers(0, len(words), (n, 9))]]
    frame = pd.DataFrame({
        "id": pd.Series([f"ex-{i}" for i in range(n)], dtype="str"),
        "split": pd.Series(rng.choice(["train", "validation", "test"], n), dtype="str"),
        "slices": pd.Series([""] * n, dtype="str"),
        "review": pd.Series(text, dtype="str"),
        "sentiment": pd.Series(rng.choice(["positive", "negative", "Positive", "mixed"], n), dtype="str"),
    })
    start = time.perf_counter()
    findings = data_checks.check_table(frame, PROGRAM)
    elapsed = time.perf_counter() - start
    print(f"\ncheck_table(1M): {elapsed:.2f} s")
    assert {"choices", "case"} <= set(kinds(findings))
    assert elapsed < 20
