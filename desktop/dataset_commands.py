"""Undoable edits of the example table (QUndoCommands on `session.undo_stack`).

Each command changes `session.project.frame` through the engine (engine.datasets,
engine.dataset_edits), then reports exactly what it did with `session.notify_frame_edit(...)` and
`session.notify_changed(...)` so the table model, the counts, the leakage check and autosave follow.

Use `push(session, command)`: it applies the command once BEFORE it enters the stack, so an edit
the engine refuses (a duplicate id, an unknown split, an import whose ids clash) raises a
`WorkbenchError` that becomes `session.error` and leaves neither the table nor the undo history
changed. The stack's first `redo()` then only announces the change.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QUndoCommand

from desktop.session import FrameEdit, ProjectSession

ROWS_NAMED = 1000  # edits of more rows than this say "these columns changed" instead of listing rows


def push(session: ProjectSession, command: FrameCommand) -> bool:
    """Apply `command` and put it on the undo stack; on a WorkbenchError report it and return False."""
    from engine.errors import WorkbenchError

    try:
        command.prepare()
    except WorkbenchError as exc:
        session.error.emit(str(exc))
        return False
    session.undo_stack.push(command)
    return True


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


class FrameCommand(QUndoCommand):
    """A change of the project's frame: subclasses implement `apply()` and `revert()`.

    Both return the FrameEdit to announce; `touches` says which session signals follow
    ("dataset" for rows and field cells, "splits" for split and slice assignments).
    """

    touches: tuple[str, ...] = ("dataset",)

    def __init__(self, session: ProjectSession, text: str):
        super().__init__(text)
        self.session = session
        self.project = session.project
        self._applied_by_prepare = False

    @property
    def frame(self):
        return self.project.frame

    def prepare(self) -> None:
        self._announce(self.apply())
        self._applied_by_prepare = True

    def redo(self) -> None:
        if self._applied_by_prepare:
            self._applied_by_prepare = False  # prepare() already applied and announced it
            return
        self._announce(self.apply())

    def undo(self) -> None:
        self._announce(self.revert())

    def _announce(self, edit: FrameEdit) -> None:
        if self.session.project is not self.project:
            return
        self.session.notify_frame_edit(edit)
        self.session.notify_changed(dataset="dataset" in self.touches, splits="splits" in self.touches)

    def apply(self) -> FrameEdit:
        raise NotImplementedError

    def revert(self) -> FrameEdit:
        raise NotImplementedError


def _cells_edit(rows: np.ndarray, column: str) -> FrameEdit:
    named = tuple(int(r) for r in rows) if len(rows) <= ROWS_NAMED else None
    return FrameEdit("cells", named, (column,))


class _ColumnValues:
    """Old values of one column at some rows, stored compactly (codes + distinct values)."""

    def __init__(self, frame, rows: np.ndarray, column: str):
        import pandas as pd  # not at import time: the window must paint before pandas loads

        self.rows, self.column = rows, column
        self.codes, self.uniques = pd.factorize(frame[column].iloc[rows])

    def restore(self, frame) -> None:
        from engine import dataset_edits, datasets

        for code, value in enumerate(self.uniques):
            rows = self.rows[self.codes == code]
            if self.column == "split":
                datasets.set_split(frame, rows, value)
            else:
                dataset_edits.set_cells(frame, rows, self.column, value)


class EditCell(FrameCommand):
    """Type a new value into one cell."""

    def __init__(self, session: ProjectSession, row: int, column: str, value: str):
        super().__init__(session, f"Edit {column} of row {row + 1}")
        self.row, self.column, self.value = int(row), column, value
        self.touches = ("splits",) if column in ("split", "slices") else ("dataset",)
        self.old: str | None = None

    def apply(self) -> FrameEdit:
        from engine import dataset_edits

        if self.old is None:
            self.old = dataset_edits.cell_values(self.frame, [self.row], self.column)[0]
        dataset_edits.set_cells(self.frame, [self.row], self.column, [self.value])
        return FrameEdit("cells", (self.row,), (self.column,))

    def revert(self) -> FrameEdit:
        from engine import dataset_edits

        dataset_edits.set_cells(self.frame, [self.row], self.column, [self.old])
        return FrameEdit("cells", (self.row,), (self.column,))


class SetSplit(FrameCommand):
    """Assign rows to train / validation / test ("" = unassigned)."""

    touches = ("splits",)

    def __init__(self, session: ProjectSession, rows, split: str):
        label = split or "unassigned"
        rows = np.unique(np.asarray(rows, dtype=np.intp))
        super().__init__(session, f"Assign {_plural(len(rows), 'row')} to {label}")
        self.rows, self.split = rows, split
        self.old: _ColumnValues | None = None

    def apply(self) -> FrameEdit:
        from engine import datasets

        if self.old is None:
            self.old = _ColumnValues(self.frame, self.rows, "split")
        datasets.set_split(self.frame, self.rows, self.split)
        return _cells_edit(self.rows, "split")

    def revert(self) -> FrameEdit:
        self.old.restore(self.frame)
        return _cells_edit(self.rows, "split")


class _SliceCommand(FrameCommand):
    touches = ("splits",)
    verb = ""

    def __init__(self, session: ProjectSession, rows, tag: str):
        rows = np.unique(np.asarray(rows, dtype=np.intp))
        super().__init__(session, f"{self.verb} slice {tag!r} {'to' if self.verb == 'Add' else 'from'} "
                                  f"{_plural(len(rows), 'row')}")
        self.rows, self.tag = rows, tag
        self.old: _ColumnValues | None = None

    def apply(self) -> FrameEdit:
        if self.old is None:
            self.old = _ColumnValues(self.frame, self.rows, "slices")
        self._edit()
        return _cells_edit(self.rows, "slices")

    def revert(self) -> FrameEdit:
        self.old.restore(self.frame)
        return _cells_edit(self.rows, "slices")

    def _edit(self) -> None:
        raise NotImplementedError


class AddSlice(_SliceCommand):
    """Tag rows with a slice (e.g. "adversarial"), for per-slice scores and release gates."""

    verb = "Add"

    def _edit(self) -> None:
        from engine import datasets

        datasets.add_slice(self.frame, self.rows, self.tag)


class RemoveSlice(_SliceCommand):
    """Remove a slice tag from rows."""

    verb = "Remove"

    def _edit(self) -> None:
        from engine import datasets

        datasets.remove_slice(self.frame, self.rows, self.tag)


class _ReplaceFrame(FrameCommand):
    """Swap in a new frame object; undo swaps the old one back (they share unchanged columns)."""

    def __init__(self, session: ProjectSession, text: str, new_frame):
        super().__init__(session, text)
        self.new_frame = new_frame
        self.old_frame = None

    def apply(self) -> FrameEdit:
        self.old_frame = self.frame
        self.project.replace_frame(self.new_frame, save=False)
        return self.applied_edit()

    def revert(self) -> FrameEdit:
        self.project.replace_frame(self.old_frame, save=False)
        return self.reverted_edit()

    def applied_edit(self) -> FrameEdit:
        return FrameEdit("replaced")

    def reverted_edit(self) -> FrameEdit:
        return FrameEdit("replaced")


class AutoSplit(_ReplaceFrame):
    """Assign train / validation / test to every (or every unassigned) row by seeded fractions.

    `new_frame` is the result of `engine.datasets.assign_splits` (computed off the GUI thread for
    big tables); it shares every column but `split` with the current frame.
    """

    touches = ("splits",)

    def __init__(self, session: ProjectSession, new_frame, description: str = "Auto-split"):
        super().__init__(session, description, new_frame)

    def applied_edit(self) -> FrameEdit:
        return FrameEdit("cells", None, ("split",))

    reverted_edit = applied_edit


class ImportRows(_ReplaceFrame):
    """Replace the examples with an imported table, or append it (`appended` = rows added at the end)."""

    touches = ("dataset", "splits")

    def __init__(self, session: ProjectSession, new_frame, *, appended: int | None, source: str):
        verb = f"Append {_plural(appended, 'row')} from" if appended is not None else "Import"
        super().__init__(session, f"{verb} {source}", new_frame)
        self.appended = appended

    def _added(self) -> tuple[int, ...]:
        total = len(self.new_frame)
        return tuple(range(total - self.appended, total))

    def applied_edit(self) -> FrameEdit:
        return FrameEdit("inserted", self._added()) if self.appended is not None else FrameEdit("replaced")

    def reverted_edit(self) -> FrameEdit:
        return FrameEdit("removed", self._added()) if self.appended is not None else FrameEdit("replaced")


class AddRows(_ReplaceFrame):
    """Add empty rows (with fresh ids) at the end of the table."""

    def __init__(self, session: ProjectSession, count: int = 1):
        super().__init__(session, f"Add {_plural(count, 'row')}", None)
        self.count = count

    def apply(self) -> FrameEdit:
        from engine import dataset_edits, datasets

        if self.new_frame is None:
            self.new_frame = datasets.append(self.frame, dataset_edits.blank_rows(self.frame, self.count))
        return super().apply()

    def _added(self) -> tuple[int, ...]:
        total = len(self.new_frame)
        return tuple(range(total - self.count, total))

    def applied_edit(self) -> FrameEdit:
        return FrameEdit("inserted", self._added())

    def reverted_edit(self) -> FrameEdit:
        return FrameEdit("removed", self._added())


class DeleteRows(FrameCommand):
    """Delete rows; undo puts them back where they were. Keeps only the removed rows, not the table."""

    def __init__(self, session: ProjectSession, rows):
        rows = np.unique(np.asarray(rows, dtype=np.intp))
        super().__init__(session, f"Delete {_plural(len(rows), 'row')}")
        self.rows = rows
        self.removed = None

    def apply(self) -> FrameEdit:
        from engine import dataset_edits

        kept, self.removed, positions = dataset_edits.delete_rows(self.frame, self.rows)
        self.project.replace_frame(kept, save=False)
        return FrameEdit("removed", tuple(positions.tolist()))

    def revert(self) -> FrameEdit:
        from engine import dataset_edits

        restored = dataset_edits.insert_rows(self.frame, self.removed, self.rows)
        self.project.replace_frame(restored, save=False)
        self.removed = None
        return FrameEdit("inserted", tuple(self.rows.tolist()))
