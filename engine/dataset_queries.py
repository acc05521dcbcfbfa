"""Read-only questions about the example table that a view asks often: which rows match a filter,
in which order, and which rows leak between splits.

All vectorised (pandas / pyarrow.compute) so a 1,000,000-row table answers in well under a second.
Row answers are 0-based positions in the frame (NumPy int arrays); None means "every row, in
frame order", so a view without a filter needs no index array at all.

Leakage checks are split in two so that re-splitting does not redo the expensive part:
`input_keys` normalises and encodes the input fields once (about 1 s per million rows), and
`find_leaks_with_keys` re-uses those keys after any split change (tens of milliseconds). Together
they give exactly `engine.datasets.find_leaks`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine import datasets
from engine.datasets import Leak, describe_leak

__all__ = ["describe_leak", "filter_rows", "find_leaks_with_keys", "input_keys", "slice_tags", "sort_rows"]

NO_SLICE = ""  # `filter_rows(slice_tag=NO_SLICE)`: rows without any slice tag


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The column as Arrow strings (the table's own chunks for its Arrow-backed `str` columns: no copy)."""
    array = pa.array(values.array) if isinstance(values.dtype, pd.StringDtype) else pa.array(values.astype(str))
    return pc.fill_null(array, "") if array.null_count else array


def _slice_mask(cells: pd.Series, tag: str) -> np.ndarray:
    codes, uniques = pd.factorize(cells)  # few distinct slice cells: test each once
    if tag == NO_SLICE:
        hit = np.array([cell == "" for cell in uniques], dtype=bool)
    else:
        hit = np.array([tag in cell.split(";") for cell in uniques], dtype=bool)
    return hit[codes] if len(uniques) else np.zeros(len(cells), dtype=bool)


def filter_rows(
    frame: pd.DataFrame,
    *,
    text: str = "",
    split: str | None = None,
    slice_tag: str | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
    columns: Sequence[str] | None = None,
) -> np.ndarray | None:
    """Positions of the rows that match every given condition, ascending; None when nothing filters.

    text       case-insensitive substring of any of `columns` (default: every column)
    split      "train", "validation", "test", or "" for unassigned rows
    slice_tag  rows carrying this slice tag, or NO_SLICE ("") for rows without any tag
    rows       only these positions (e.g. the rows of a leak)
    """
    text = text.strip()
    if not text and split is None and slice_tag is None and rows is None:
        return None
    mask = np.ones(len(frame), dtype=bool)
    if rows is not None:
        mask[:] = False
        mask[np.asarray(rows, dtype=np.intp)] = True
    if split is not None:
        mask &= (frame["split"] == split).to_numpy(dtype=bool)
    if slice_tag is not None:
        mask &= _slice_mask(frame["slices"], slice_tag)
    if text:
        found = np.zeros(len(frame), dtype=bool)
        for column in columns or frame.columns:
            hits = pc.match_substring(_arrow(frame[column]), text, ignore_case=True)
            found |= hits.to_numpy(zero_copy_only=False)
        mask &= found
    return np.flatnonzero(mask)


def sort_rows(frame: pd.DataFrame, column: str, *, descending: bool = False,
              rows: np.ndarray | None = None) -> np.ndarray:
    """`rows` (default: all) ordered by `column`'s text; stable, so equal values keep frame order."""
    values = _arrow(frame[column])
    if rows is not None:
        values = values.take(pa.array(rows, type=pa.int64()))
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()  # array_sort_indices takes one array
    order = pc.array_sort_indices(values, order="descending" if descending else "ascending")
    order = order.to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
    return order if rows is None else np.asarray(rows, dtype=np.intp)[order]


def slice_tags(frame: pd.DataFrame) -> list[str]:
    """Every slice tag used in the table, sorted."""
    uniques = pd.unique(frame["slices"])
    return sorted({tag for cell in uniques for tag in str(cell).split(";") if tag})


# ----------------------------------------------------------------------------------------------------------
# Leakage


def input_keys(frame: pd.DataFrame, input_fields: Sequence[str]) -> np.ndarray | None:
    """One integer per row: rows with equal keys have the same normalised inputs (all fields together).

    Normalisation is `engine.datasets.normalize_text`, so keys agree with `datasets.find_leaks`.
    None when the program has no input fields (then only ids can leak).
    """
    if not input_fields:
        return None
    return datasets._input_keys(frame, None, input_fields)  # the same keys as `datasets.find_leaks` uses


def find_leaks_with_keys(frame: pd.DataFrame, keys: np.ndarray | None) -> list[Leak]:
    """`datasets.find_leaks(frame, input_fields)`, given `keys = input_keys(frame, input_fields)`.

    The keys depend only on the input fields, so they stay valid while splits, slices and outputs
    change; recompute them after rows or input cells change.
    """
    return datasets.find_leaks(frame, (), input_keys=keys)


