"""Saving the examples keeps the file's own layout, so one edited cell is a one-line diff."""

from __future__ import annotations

import pandas as pd

from engine import datasets
from engine.project import Project


def _lines(path):
    return path.read_bytes().split(b"\n")


def test_editing_one_cell_of_the_sample_changes_one_line(sample_project):
    before = _lines(sample_project.data_path)
    frame = sample_project.frame
    column = frame.columns.get_loc("urgency")
    frame.iat[3, column] = "high" if frame.iat[3, column] != "high" else "low"
    sample_project.save_frame()
    after = _lines(sample_project.data_path)
    assert len(before) == len(after)
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [4]  # header + row 3
    assert after[0].startswith(b"id,ticket_text,policy_context,urgency,split,slices")  # the file's order
    assert Project.open(sample_project.root).frame.equals(frame)


def test_a_file_written_quoted_stays_quoted_and_a_new_column_goes_last(tmp_path):
    frame = datasets.empty_frame(["text", "label"])
    frame = pd.concat([frame, pd.DataFrame([{"id": "a", "split": "train", "slices": "", "text": "x, y", "label": "p"}])],
                      ignore_index=True).astype(str)
    path = tmp_path / "examples.csv"
    path.write_text('"id","text","label","split","slices"\r\n"a","x, y","p","train",""\r\n', "utf-8")
    frame["extra"] = "e"
    datasets.save_frame(frame, path)
    text = path.read_bytes().decode("utf-8")
    assert text.startswith('"id","text","label","split","slices","extra"\r\n')
    assert '"a","x, y","p","train","","e"\r\n' in text


def test_a_new_small_table_is_written_with_minimal_quoting(tmp_path):
    frame = pd.DataFrame([{"id": "a", "split": "train", "slices": "", "text": 'say "hi", please', "label": "p"}])
    path = tmp_path / "examples.csv"
    datasets.save_frame(frame, path)
    assert path.read_bytes().decode("utf-8") == 'id,split,slices,text,label\r\na,train,,"say ""hi"", please",p\r\n'
    assert datasets.load_frame(path, ["text", "label"]).equals(frame.astype(datasets.load_frame(path, ["text", "label"]).dtypes))


def test_an_lf_file_with_a_lone_cr_in_a_cell_still_reads_back_exactly(tmp_path):
    path = tmp_path / "examples.csv"
    path.write_bytes(b"id,split,slices,text,label\na,train,,x,p\n")
    frame = datasets.load_frame(path, ["text", "label"])
    frame.iat[0, frame.columns.get_loc("text")] = "lone\rcr"
    datasets.save_frame(frame, path)
    assert datasets.load_frame(path, ["text", "label"]).equals(frame)
    assert path.read_bytes().endswith(b"\n") and b"\r\n" not in path.read_bytes()
