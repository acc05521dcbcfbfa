"""Row and cell edits on the canonical example table, shaped for undo.

The GUI's undo commands (and any script) edit the table through these functions. Each edit either
changes cells IN PLACE (the table model shows the same frame object, so nothing is copied) or
returns a NEW frame for structural changes (rows added or removed), together with whatever the
inverse edit needs: the old cell values, or the removed rows and their positions.

Rules kept here rather than in the GUI: ids stay unique and non-empty, splits accept the same
aliases as `engine.datasets.set_split`, slice cells are cleaned tags joined by ";".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from engine import datasets
from engine.errors import DatasetError

__all__ = [
    "blank_rows",
    "cell_values",
    "clean_slices",
    "delete_rows",
    "insert_rows",
    "set_cells",
]

_STR = "str"
_TAG_SEPARATORS = re.compile(r"[;,]")


def _positions(frame: pd.DataFrame, rows) -> np.ndarray:
    positions = np.asarray(rows, dtype=np.intp).ravel()
    if len(positions) and (positions.min() < 0 or positions.max() >= len(frame)):
        raise IndexError(f"row positions must be in 0..{len(frame) - 1}")
    return positions


def _column(frame: pd.DataFrame, column: str) -> int:
    if column not in frame.columns:
        raise DatasetError(f"the table has no column {column!r}; its columns are: {', '.join(frame.columns)}")
    return frame.columns.get_loc(column)


def cell_values(frame: pd.DataFrame, rows, column: str) -> list[str]:
    """The cells of `column` at these row positions (what an undo needs to restore them)."""
    return frame.iloc[_positions(frame, rows), _column(frame, column)].tolist()


def clean_slices(cell: str) -> str:
    """A slice cell as stored: tags split on ";" or ",", stripped, de-duplicated, joined with ";"."""
    tags = (tag.strip() for tag in _TAG_SEPARATORS.split(str(cell)))
    return ";".join(dict.fromkeys(tag for tag in tags if tag))


def _check_ids(frame: pd.DataFrame, positions: np.ndarray, values: list[str]) -> list[str]:
    cleaned = [str(v).strip() for v in values]
    if any(v == "" for v in cleaned):
        raise DatasetError("an example id cannot be empty; type an id that no other row uses")
    if len(set(cleaned)) != len(cleaned):
        raise DatasetError("the new ids repeat each other; every row needs its own id")
    hits = np.setdiff1d(np.flatnonzero(frame["id"].isin(cleaned).to_numpy(dtype=bool)), positions)
    if len(hits):
        row = int(hits[0])
        raise DatasetError(f"id {frame['id'].iat[row]!r} is already used by row {row + 1}; ids must be unique")
    return cleaned


def set_cells(frame: pd.DataFrame, rows, column: str, values: str | Sequence[str]) -> None:
    """Set `column` at these row positions, in place: one value for all rows, or one value per row.

    The split column takes train / validation / test / "" (and the aliases `datasets.set_split`
    knows); the slices column is cleaned (`clean_slices`); ids must stay unique and non-empty.
    Raises `DatasetError` (and changes nothing) when a value breaks one of these rules.
    """
    positions = _positions(frame, rows)
    index = _column(frame, column)
    if isinstance(values, str):
        values = [values] * len(positions)
    values = [str(v) for v in values]
    if len(values) != len(positions):
        raise ValueError(f"{len(values)} values for {len(positions)} rows")
    if not len(positions):
        return
    if column == "split":
        for value in dict.fromkeys(values):  # no rows: only validates the value, before any row changes
            datasets.set_split(frame, [], value)
        uniques = list(dict.fromkeys(values))
        codes = pd.Index(uniques).get_indexer(values)
        for code, value in enumerate(uniques):
            datasets.set_split(frame, positions[codes == code], value)
        return
    if column == "slices":
        values = [clean_slices(v) for v in values]
    elif column == "id":
        values = _check_ids(frame, positions, values)
    frame.iloc[positions, index] = pd.array(values, dtype=_STR)


def blank_rows(frame: pd.DataFrame, count: int, *, prefix: str = "new") -> pd.DataFrame:
    """`count` empty canonical rows whose ids ("new-1", "new-2", ...) are not yet used in `frame`."""
    taken = set(frame["id"][frame["id"].str.startswith(f"{prefix}-").to_numpy(dtype=bool)].tolist())
    ids, number = [], 1
    while len(ids) < count:
        candidate = f"{prefix}-{number}"
        if candidate not in taken:
            ids.append(candidate)
        number += 1
    columns = {name: pd.array([""] * count, dtype=_STR) for name in frame.columns}
    columns["id"] = pd.array(ids, dtype=_STR)
    return pd.DataFrame(columns, index=pd.RangeIndex(count), columns=list(frame.columns))


def delete_rows(frame: pd.DataFrame, rows) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Remove rows: returns (new frame, the removed rows, their sorted positions in `frame`).

    `insert_rows(new, removed, positions)` gives back a frame equal to `frame`.
    """
    positions = np.unique(_positions(frame, rows))
    keep = np.ones(len(frame), dtype=bool)
    keep[positions] = False
    kept = frame.take(np.flatnonzero(keep)).reset_index(drop=True)
    removed = frame.take(positions).reset_index(drop=True)
    return kept, removed, positions


def insert_rows(frame: pd.DataFrame, rows: pd.DataFrame, positions) -> pd.DataFrame:
    """A new frame with `rows` placed at `positions` (sorted, 0-based positions in the RESULT).

    Ids of the inserted rows must not already be in `frame`.
    """
    positions = np.asarray(positions, dtype=np.intp).ravel()
    total = len(frame) + len(rows)
    if len(positions) != len(rows):
        raise ValueError(f"{len(positions)} positions for {len(rows)} rows")
    if len(positions) and (np.any(np.diff(positions) <= 0) or positions[0] < 0 or positions[-1] >= total):
        raise ValueError("positions must be increasing and inside the new table")
    if list(rows.columns) != list(frame.columns):
        raise DatasetError("cannot insert the rows: their columns differ from the table's")
    clash = rows["id"][rows["id"].isin(frame["id"]).to_numpy()]
    if len(clash):
        raise DatasetError(f"cannot insert the rows: id {clash.iloc[0]!r} is already in the table")
    combined = pd.concat([frame, rows], ignore_index=True)
    inserted = np.zeros(total, dtype=bool)
    inserted[positions] = True
    order = np.empty(total, dtype=np.intp)
    order[~inserted] = np.arange(len(frame))
    order[inserted] = len(frame) + np.arange(len(rows))
    return combined.take(order).reset_index(drop=True)
