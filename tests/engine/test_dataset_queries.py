"""Tests for engine.dataset_queries: filters, sorting, and leak checks that agree with datasets.find_leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import dataset_queries as dq
from engine import datasets as ds

FIELDS = ["question", "answer"]


def table(rows: list[dict]) -> pd.DataFrame:
    columns = ["id", "split", "slices", *FIELDS]
    raw = pd.DataFrame([[r.get(k, "") for k in columns] for r in rows], columns=columns, dtype="str")
    mapping = ds.ColumnMapping(fields={f: f for f in FIELDS}, id_column="id", split_column="split",
                               slice_columns=("slices",))
    return ds.to_canonical(raw, mapping)


SAMPLE = table([
    {"id": "a", "split": "train", "slices": "billing;vip", "question": "Refund please", "answer": "x"},
    {"id": "b", "split": "test", "slices": "billing", "question": "Where is my ORDER", "answer": "y"},
    {"id": "c", "split": "", "slices": "", "question": "hello", "answer": "refund"},
    {"id": "d", "split": "train", "slices": "vip", "question": "zzz", "answer": "z"},
])


def test_no_condition_means_every_row():
    assert dq.filter_rows(SAMPLE) is None
    assert dq.filter_rows(SAMPLE, text="   ") is None


def test_text_filter_is_case_insensitive_across_columns():
    assert dq.filter_rows(SAMPLE, text="REFUND").tolist() == [0, 2]
    assert dq.filter_rows(SAMPLE, text="refund", columns=["question"]).tolist() == [0]


def test_split_slice_and_rows_filters_combine():
    assert dq.filter_rows(SAMPLE, split="train").tolist() == [0, 3]
    assert dq.filter_rows(SAMPLE, split="").tolist() == [2]
    assert dq.filter_rows(SAMPLE, slice_tag="vip").tolist() == [0, 3]
    assert dq.filter_rows(SAMPLE, slice_tag="bill").tolist() == []  # whole tags only
    assert dq.filter_rows(SAMPLE, slice_tag=dq.NO_SLICE).tolist() == [2]
    assert dq.filter_rows(SAMPLE, split="train", slice_tag="billing").tolist() == [0]
    assert dq.filter_rows(SAMPLE, rows=[3, 1], split="train").tolist() == [3]


def test_sort_is_stable_and_respects_a_row_subset():
    assert dq.sort_rows(SAMPLE, "split").tolist() == [2, 1, 0, 3]
    assert dq.sort_rows(SAMPLE, "split", descending=True).tolist() == [0, 3, 1, 2]
    assert dq.sort_rows(SAMPLE, "question", rows=np.array([3, 0, 1])).tolist() == [0, 1, 3]


def test_slice_tags_lists_each_tag_once():
    assert dq.slice_tags(SAMPLE) == ["billing", "vip"]


def test_describe_leak_names_ids_and_splits():
    frame = table([{"id": "refund-001", "split": "train", "question": "Q"},
                   {"id": "refund-101", "split": "test", "question": " q "}])
    leaks = dq.find_leaks_with_keys(frame, dq.input_keys(frame, ["question"]))
    assert [dq.describe_leak(leak) for leak in leaks] == [
        "ids refund-001 (train) and refund-101 (test) have the same inputs"]


texts = st.sampled_from(["a", "A ", "b", "b\u00a0c", "b  c", "ｃ", "c", ""])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z", "w"]), st.sampled_from(["", "train", "validation", "test"]),
                          texts, texts), min_size=0, max_size=14))
def test_keyed_leaks_equal_find_leaks(rows):
    frame = table([{"id": f"{i}", "split": s, "question": q, "answer": a} for i, (_, s, q, a) in enumerate(rows)])
    # Repeated ids come from the first tuple element (ids need not be unique after edits).
    frame["id"] = pd.array([r[0] for r in rows], dtype="str")
    for fields in (["question"], ["question", "answer"], []):
        keys = dq.input_keys(frame, fields)
        assert dq.find_leaks_with_keys(frame, keys) == ds.find_leaks(frame, fields)


def test_keys_stay_valid_after_a_split_change():
    frame = table([{"id": "a", "split": "train", "question": "same"},
                   {"id": "b", "split": "train", "question": "same"}])
    keys = dq.input_keys(frame, ["question"])
    assert dq.find_leaks_with_keys(frame, keys) == []
    ds.set_split(frame, [1], "test")
    assert dq.find_leaks_with_keys(frame, keys) == ds.find_leaks(frame, ["question"])
    assert len(dq.find_leaks_with_keys(frame, keys)) == 1
