"""DatasetTableModel: reads the frame in place, filters and sorts with an index array, and turns
edits into precise Qt signals (checked by Qt's own model tester)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt

from desktop.dataset_commands import AddRows, DeleteRows, EditCell, SetSplit, push
from desktop.dataset_model import DatasetTableModel, RowFilter

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


@pytest.fixture
def model(session):
    model = DatasetTableModel(session)
    yield model
    model.deleteLater()


def column(model, name):
    return model.columns.index(name)


def test_model_passes_qt_model_tester_through_edits_and_filters(qtmodeltester, model, session):
    qtmodeltester.check(model)  # the C++ tester stays attached and checks every later signal
    assert push(session, AddRows(session, 3))
    assert push(session, DeleteRows(session, [0, 5, 6, 7, 300]))
    assert push(session, SetSplit(session, [1, 2], "test"))
    model.set_filter(RowFilter(split="train"))
    assert push(session, DeleteRows(session, model.frame_rows([0, 1])))
    assert push(session, AddRows(session, 2))
    model.sort(column(model, "id"), Qt.SortOrder.DescendingOrder)
    while session.undo_stack.canUndo():
        session.undo_stack.undo()
    model.set_filter(RowFilter())
    model.sort(-1)
    while session.undo_stack.canRedo():
        session.undo_stack.redo()
    qtmodeltester.check(model, force_py=True)


def test_model_shows_the_project_frame_without_copying_it(model, session):
    frame = session.project.frame
    assert model.frame is frame
    assert model.rowCount() == len(frame) == 300
    assert model.columns == list(frame.columns)
    text = model.index(0, column(model, "ticket_text")).data(Qt.ItemDataRole.EditRole)
    assert text == frame["ticket_text"].iat[0]
    # The model's column arrays are the frame's own arrays, not copies.
    assert model._arrays[column(model, "ticket_text")] is frame["ticket_text"].array


def test_headers_name_the_field_and_its_role(model):
    header = model.headerData(column(model, "ticket_text"), Qt.Orientation.Horizontal)
    assert header.split("\n") == ["ticket_text", "input"]
    assert model.headerData(column(model, "urgency"), Qt.Orientation.Horizontal).split("\n") == ["urgency", "output"]
    assert "customer's message" in model.headerData(column(model, "ticket_text"), Qt.Orientation.Horizontal,
                                                   Qt.ItemDataRole.ToolTipRole)


def test_long_cells_are_one_line_with_the_full_text_in_the_tooltip(model, session):
    push(session, EditCell(session, 0, "ticket_text", "first line\nsecond line " + "x" * 600))
    index = model.index(0, column(model, "ticket_text"))
    shown = index.data()
    assert "\n" not in shown and shown.endswith("…") and len(shown) < 400
    assert "x" * 600 in index.data(Qt.ItemDataRole.ToolTipRole)


def test_filters_use_an_index_array_over_the_frame(model, session):
    frame = session.project.frame
    model.set_filter(RowFilter(split="test"))
    assert model.rowCount() == int((frame["split"] == "test").sum()) == 90
    assert all(model.index(r, column(model, "split")).data() == "test" for r in range(model.rowCount()))
    model.set_filter(RowFilter(split="test", slice_tag="adversarial"))
    assert model.rowCount() == 13
    model.set_filter(RowFilter(text="REFUND"))
    rows = model.frame_rows(np.arange(model.rowCount()))
    assert all("refund" in " ".join(frame.iloc[r].tolist()).lower() for r in rows)
    model.set_filter(RowFilter())
    assert model.order is None and model.rowCount() == 300


def test_sorting_orders_view_rows_and_maps_back_to_frame_rows(model, session):
    model.sort(column(model, "id"), Qt.SortOrder.DescendingOrder)
    ids = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert ids == sorted(ids, reverse=True)
    frame_row = model.frame_row(0)
    assert session.project.frame["id"].iat[frame_row] == ids[0]
    assert model.view_row(frame_row) == 0


def test_split_change_emits_data_changed_not_a_reset(qtbot, model, session):
    with qtbot.assertNotEmitted(model.modelReset):
        with qtbot.waitSignal(model.dataChanged) as changed:
            push(session, SetSplit(session, [4], "validation"))
    top_left, bottom_right = changed.args[0], changed.args[1]
    assert top_left.row() == bottom_right.row() == 4
    assert model.index(4, column(model, "split")).data() == "validation"


def test_deleting_rows_removes_exactly_those_view_rows(qtbot, model, session):
    removed = []
    model.rowsAboutToBeRemoved.connect(lambda parent, first, last: removed.append((first, last)))
    ids_before = session.project.frame["id"].tolist()
    push(session, DeleteRows(session, [2, 3, 10]))
    assert removed == [(10, 10), (2, 3)]
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == \
        [i for n, i in enumerate(ids_before) if n not in (2, 3, 10)]
    inserted = []
    model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    session.undo_stack.undo()
    assert inserted == [(2, 3), (10, 10)]
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ids_before


def test_rows_added_under_a_filter_are_shown_at_its_end(model, session):
    model.set_filter(RowFilter(split="test"))
    before = model.rowCount()
    push(session, AddRows(session, 2))
    assert model.rowCount() == before + 2
    assert model.index(model.rowCount() - 1, 0).data() == "new-2"
    session.undo_stack.undo()
    assert model.rowCount() == before


def test_set_data_goes_through_the_undo_stack(model, session):
    index = model.index(7, column(model, "urgency"))
    old = index.data()
    assert model.setData(index, "high" if old != "high" else "low")
    assert session.undo_stack.count() == 1
    session.undo_stack.undo()
    assert model.index(7, column(model, "urgency")).data() == old


def test_refused_edit_reports_and_changes_nothing(model, session, qtbot):
    with qtbot.waitSignal(session.error) as error:
        assert not model.setData(model.index(0, 0), session.project.frame["id"].iat[1])
    assert "already used" in error.args[0]
    assert session.undo_stack.count() == 0
    assert model.index(0, 0).parent() == QModelIndex()
