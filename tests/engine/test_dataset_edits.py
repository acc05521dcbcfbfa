"""Tests for engine.dataset_edits: in-place cell edits and structural edits with their inverses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import dataset_edits as edits
from engine import datasets as ds
from engine.errors import DatasetError

FIELDS = ["question", "answer"]


def table(n: int) -> pd.DataFrame:
    raw = pd.DataFrame({
        "id": [f"ex-{i}" for i in range(n)],
        "split": ["train" if i % 2 else "test" for i in range(n)],
        "slices": ["even" if i % 2 == 0 else "" for i in range(n)],
        "question": [f"q{i}" for i in range(n)],
        "answer": [str(i % 3) for i in range(n)],
    }, dtype="str")
    mapping = ds.ColumnMapping(fields={f: f for f in FIELDS}, id_column="id", split_column="split",
                               slice_columns=("slices",))
    return ds.to_canonical(raw, mapping)


def test_set_cells_changes_the_frame_in_place_and_returns_restorable_values():
    frame = table(5)
    before = edits.cell_values(frame, [1, 3], "question")
    same = frame
    edits.set_cells(frame, [1, 3], "question", "edited")
    assert frame is same
    assert frame["question"].tolist() == ["q0", "edited", "q2", "edited", "q4"]
    edits.set_cells(frame, [1, 3], "question", before)
    assert frame["question"].tolist() == ["q0", "q1", "q2", "q3", "q4"]


def test_set_cells_normalises_split_aliases_and_rejects_unknown_splits():
    frame = table(3)
    edits.set_cells(frame, [0, 1], "split", ["dev", "Train"])
    assert frame["split"].tolist()[:2] == ["validation", "train"]
    with pytest.raises(DatasetError, match="unknown split"):
        edits.set_cells(frame, [0, 2], "split", ["test", "nonsense"])
    assert frame["split"].tolist()[0] == "validation"  # nothing changed on error


def test_set_cells_cleans_slice_tags():
    frame = table(2)
    edits.set_cells(frame, [0], "slices", " a , b;a;; ")
    assert frame["slices"].iat[0] == "a;b"


def test_ids_stay_unique_and_non_empty():
    frame = table(3)
    with pytest.raises(DatasetError, match="already used by row 3"):
        edits.set_cells(frame, [0], "id", "ex-2")
    with pytest.raises(DatasetError, match="cannot be empty"):
        edits.set_cells(frame, [0], "id", "  ")
    edits.set_cells(frame, [0], "id", " fresh ")
    assert frame["id"].iat[0] == "fresh"
    edits.set_cells(frame, [0, 1], "id", ["ex-1", "ex-0"])  # swapping ids is fine
    assert frame["id"].tolist()[:2] == ["ex-1", "ex-0"]


def test_unknown_column_is_a_dataset_error():
    with pytest.raises(DatasetError, match="no column 'nope'"):
        edits.set_cells(table(1), [0], "nope", "x")


def test_blank_rows_get_fresh_ids():
    frame = table(2)
    edits.set_cells(frame, [0], "id", "new-1")
    rows = edits.blank_rows(frame, 2)
    assert rows["id"].tolist() == ["new-2", "new-3"]
    assert list(rows.columns) == list(frame.columns)
    assert (rows.drop(columns="id") == "").all().all()
    assert ds.append(frame, rows)["id"].tolist()[-2:] == ["new-2", "new-3"]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(st.just(n), st.sets(st.integers(min_value=0, max_value=n - 1), min_size=1))))
def test_insert_rows_undoes_delete_rows(case):
    n, picked = case
    frame = table(n)
    kept, removed, positions = edits.delete_rows(frame, sorted(picked, reverse=True))
    assert len(kept) == n - len(picked)
    assert removed["id"].tolist() == [f"ex-{i}" for i in sorted(picked)]
    assert isinstance(kept.index, pd.RangeIndex)
    restored = edits.insert_rows(kept, removed, positions)
    pd.testing.assert_frame_equal(restored, frame)


def test_insert_rows_rejects_ids_already_present():
    frame = table(3)
    kept, removed, positions = edits.delete_rows(frame, [1])
    with pytest.raises(DatasetError, match="already in the table"):
        edits.insert_rows(frame.iloc[:2].reset_index(drop=True), removed.assign(id="ex-0"), [1])


def test_delete_rows_rejects_out_of_range_positions():
    with pytest.raises(IndexError):
        edits.delete_rows(table(2), [np.intp(5)])
