"""The example table checked against the program: what would make a compile learn or score the wrong thing.

`check_table(frame, program)` returns typed `Finding`s, each naming the real cause and the rows:

* ``choices``         a Literal output holds a value outside its choices ("3 rows have `label` 'mixed'")
* ``case``            a Literal output holds a choice in another case ('Positive' for 'positive'); `fix`
                      says which value to write instead (`apply_case_fix` does it)
* ``empty``           rows whose input field is empty ("40 rows have an empty `review`")
* ``conflict``        identical inputs (the leak key: case, punctuation and spacing folded) with different
                      outputs inside one split; counted in groups, not rows
* ``near_duplicate``  inputs in different splits that are almost the same (character similarity with
                      rapidfuzz) but not equal after folding (those are leaks); `pairs` lists them

None of these blocks a compile (exact leaks do: `engine.datasets.check_no_leaks`); they are shown.
Everything that touches all rows is vectorised; near-duplicates compare only rows that share a bucket
(the same first or last characters), cap the comparisons and say so when they stopped early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as _default

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from engine import datasets

__all__ = ["Finding", "apply_case_fix", "check_table", "near_duplicates"]

NAMED = 10  # ids quoted in one message
NEAR_SIMILARITY = 90.0  # rapidfuzz ratio (0-100) from which two inputs count as near-duplicates
NEAR_MAX_PAIRS = 50  # pairs kept in one finding
NEAR_FULL_PAIRS = 1_000_000  # up to this many cross-split pairs (~0.1 s) every one is compared
NEAR_BUCKET_CHARS = 12  # bigger tables: only rows sharing their first or last this many characters
NEAR_BUCKET_MAX = 64  # a bucket bigger than this is common boilerplate: skipped
NEAR_MAX_COMPARISONS = 2_000_000  # then stop and say the check was partial


@dataclass(frozen=True)
class Finding:
    """One problem of the table. `groups` are 0-based row positions, one tuple per group (a single
    group for per-row findings); `ids` are the first rows' ids, for messages and the window."""

    kind: str
    message: str
    field: str = ""
    count: int = 0  # rows (choices, case, empty) or groups (conflict) or pairs (near_duplicate)
    groups: tuple[tuple[int, ...], ...] = ()
    ids: tuple[str, ...] = ()
    fix: dict[str, str] = _default(default_factory=dict)  # case: {"from": "Positive", "to": "positive"}
    pairs: tuple[tuple[str, str], ...] = ()  # near_duplicate: (id, id) across splits
    blocking: bool = False

    @property
    def rows(self) -> list[int]:
        return sorted({row for group in self.groups for row in group})

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message, "field": self.field, "count": self.count,
                "blocking": self.blocking, "ids": list(self.ids), "fix": dict(self.fix),
                "pairs": [list(pair) for pair in self.pairs], "rows": self.rows[:1000]}


def check_table(frame: pd.DataFrame, program, *, near: bool = True) -> list[Finding]:
    """Every finding for the table under `program` (a ProgramSpec), most serious kinds first.

    `near=False` leaves out the near-duplicate search (the costliest part; about 1 s per million rows).
    """
    inputs = [f for f in program.input_names if f in frame.columns]
    findings = _literal_findings(frame, program)
    empties = {name: _empty(frame[name]) for name in inputs}
    findings += _empty_findings(frame, empties)
    if inputs:
        folded = datasets.folded_inputs(frame, None, inputs)
        blank = np.logical_and.reduce(list(empties.values()))
        outputs = [f for f in program.output_names if f in frame.columns]
        findings += _conflict_findings(frame, datasets.keys_of(folded), blank, outputs)
        if near:
            findings += near_duplicates(frame, inputs, folded=folded)
    return findings


def apply_case_fix(frame: pd.DataFrame, finding: Finding) -> pd.DataFrame:
    """A copy of the frame with the finding's rows set to its canonical choice (a `case` finding)."""
    if finding.kind != "case":
        raise ValueError("only a case finding has a fix")
    fixed = frame.copy()
    fixed.iloc[finding.rows, fixed.columns.get_loc(finding.field)] = finding.fix["to"]
    return fixed


# ----------------------------------------------------------------------------------------------------------


def _ids(frame: pd.DataFrame, rows: Sequence[int]) -> tuple[str, ...]:
    return tuple(frame["id"].iloc[list(rows[:NAMED])].tolist())


def _named(ids: Sequence[str], total: int) -> str:
    more = f" and {total - len(ids)} more" if total > len(ids) else ""
    return ", ".join(ids) + more


def _rows_word(n: int) -> str:
    return "1 row has" if n == 1 else f"{n:,} rows have"


def _literal_findings(frame: pd.DataFrame, program) -> list[Finding]:
    findings = []
    for spec in program.output_fields:
        if spec.type != "literal" or spec.name not in frame.columns:
            continue
        values = frame[spec.name]
        wrong = ~values.isin([*spec.choices, ""]).to_numpy(dtype=bool)  # empty: unlabelled, not a wrong label
        if not wrong.any():
            continue
        by_fold = {choice.casefold(): choice for choice in spec.choices}
        choices = ", ".join(repr(c) for c in spec.choices)
        positions = np.flatnonzero(wrong)
        codes, uniques = pd.factorize(values.iloc[positions].str.strip())
        for code, value in enumerate(uniques):
            rows = positions[codes == code]
            ids = _ids(frame, rows)
            target = by_fold.get(value.casefold())
            where = f"(ids {_named(ids, len(rows))})"
            if target is not None:
                findings.append(Finding(
                    "case", f"{_rows_word(len(rows))} `{spec.name}` {values.iloc[rows[0]]!r} {where}: the "
                    f"choice is {target!r}; change them to {target!r}, or the program's right answers score as wrong",
                    spec.name, len(rows), (tuple(rows.tolist()),), ids,
                    fix={"from": str(values.iloc[rows[0]]), "to": target}))
            else:
                findings.append(Finding(
                    "choices", f"{_rows_word(len(rows))} `{spec.name}` {value!r} {where}, which is not one of "
                    f"its choices ({choices}); relabel them, or add {value!r} to the field's choices",
                    spec.name, len(rows), (tuple(rows.tolist()),), ids))
    return findings


def _empty(values: pd.Series) -> np.ndarray:
    text = pc.utf8_trim_whitespace(datasets._arrow_text(values))
    return np.asarray(pc.equal(text, "").to_numpy(zero_copy_only=False), dtype=bool)


def _empty_findings(frame: pd.DataFrame, empties: dict[str, np.ndarray]) -> list[Finding]:
    findings = []
    for name, empty in empties.items():
        if empty.any():
            rows = np.flatnonzero(empty)
            ids = _ids(frame, rows)
            findings.append(Finding(
                "empty", f"{_rows_word(len(rows))} an empty `{name}` (ids {_named(ids, len(rows))}); "
                "fill them in or delete those rows: the program sees nothing to work from",
                name, len(rows), (tuple(rows.tolist()),), ids))
    return findings


def _conflict_findings(frame: pd.DataFrame, keys: np.ndarray, blank: np.ndarray,
                       outputs: Sequence[str]) -> list[Finding]:
    if not outputs or not len(frame):
        return []
    labels = pd.factorize(pd.MultiIndex.from_arrays([frame[o] for o in outputs]) if len(outputs) > 1
                          else frame[outputs[0]])[0]
    split_codes = pd.factorize(frame["split"])[0]
    table = pd.DataFrame({"group": keys * (int(split_codes.max()) + 1) + split_codes, "label": labels})
    table = table[~blank]
    distinct = table.groupby("group", sort=False)["label"].nunique()
    conflicted = distinct.index[distinct.to_numpy() > 1]
    if not len(conflicted):
        return []
    hit = table[table["group"].isin(conflicted)]
    groups = [tuple(g.tolist()) for _, g in hit.groupby("group", sort=False).groups.items()]
    groups.sort()
    split_names = sorted({frame["split"].iloc[g[0]] or "unassigned" for g in groups})
    shown = "; ".join(_named(_ids(frame, g), len(g)) for g in groups[:3])
    more = f"; and {len(groups) - 3} more groups" if len(groups) > 3 else ""
    n = len(groups)
    return [Finding(
        "conflict", f"{n:,} group{'s' if n > 1 else ''} of identical inputs ha{'ve' if n > 1 else 's'} "
        f"different {', '.join(f'`{o}`' for o in outputs)} inside one split ({', '.join(split_names)}): "
        f"{shown}{more}; keep one label per group, or delete the duplicates",
        outputs[0], n, tuple(groups), _ids(frame, [g[0] for g in groups]))]


# ----------------------------------------------------------------------------------------------------------
# Near-duplicates across splits


def near_duplicates(frame: pd.DataFrame, inputs: Sequence[str], *, threshold: float = NEAR_SIMILARITY,
                    max_pairs: int = NEAR_MAX_PAIRS, folded=None) -> list[Finding]:
    """A warning with the pairs of rows in different splits whose folded inputs are almost equal.

    Tables of up to `NEAR_FULL_PAIRS` cross-split pairs compare every one (rapidfuzz.process.cdist, C++);
    bigger tables compare only rows sharing a bucket (the first or last `NEAR_BUCKET_CHARS` folded
    characters), skip buckets of more than `NEAR_BUCKET_MAX` rows, and stop after `NEAR_MAX_COMPARISONS`,
    saying so in the message. Inputs equal after folding are leaks (`datasets.find_leaks`), not listed here.
    `folded` is `datasets.folded_inputs(frame, None, inputs)` when the caller has it.
    """
    if not inputs or len(frame) < 2:
        return []
    text = pd.Series(pd.array(folded if folded is not None else datasets.folded_inputs(frame, None, inputs),
                              dtype="str"), copy=False)
    splits = frame["split"].to_numpy(dtype=object)
    useful = (frame["split"] != datasets.UNASSIGNED).to_numpy(dtype=bool) & (text != "").to_numpy(dtype=bool)
    per_split = {s: np.flatnonzero(useful & (splits == s)) for s in datasets.SPLITS}
    if sum(len(v) > 0 for v in per_split.values()) < 2:
        return []
    sizes = [len(v) for v in per_split.values()]
    if sizes[0] * sizes[1] + sizes[0] * sizes[2] + sizes[1] * sizes[2] <= NEAR_FULL_PAIRS:
        pairs, partial, incomplete = _all_pairs(text, per_split, threshold), "", False
    else:
        pairs, partial, incomplete = _bucket_pairs(text, splits, useful, threshold)
    if not pairs:
        return [] if not incomplete else [Finding(
            "near_duplicate", f"no near-duplicate inputs found across splits, but the check was partial "
            f"({partial})", inputs[0])]
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    count = len(pairs)
    kept = pairs[:max_pairs]
    ids = frame["id"]
    named = [(str(ids.iloc[a]), str(ids.iloc[b])) for a, b, _ in kept]
    shown = "; ".join(f"{a} ({splits[i]}) ~ {b} ({splits[j]})" for (a, b), (i, j, _) in zip(named[:5], kept[:5]))
    more = f"; and {count - 5} more" if count > 5 else ""
    note = f" ({partial})" if partial else ""
    return [Finding(
        "near_duplicate", f"{count:,} pair{'s' if count > 1 else ''} of inputs in different splits "
        f"{'are' if count > 1 else 'is'} almost the same (similarity ≥ {threshold:g}%): {shown}{more}{note}; "
        "if they are the same example, move one so it sits in one split",
        inputs[0], count, tuple((a, b) for a, b, _ in kept),
        tuple(dict.fromkeys(i for pair in named[:NAMED] for i in pair)), pairs=tuple(named))]


def _all_pairs(text: pd.Series, per_split: dict, threshold: float) -> list[tuple[int, int, float]]:
    from rapidfuzz import fuzz, process

    pairs = []
    names = [s for s in datasets.SPLITS if len(per_split[s])]
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = per_split[first], per_split[second]
            left, right = text.iloc[a].tolist(), text.iloc[b].tolist()
            scores = process.cdist(left, right, scorer=fuzz.ratio, score_cutoff=threshold,
                                   dtype=np.uint8, workers=1)
            for x, y in zip(*np.nonzero(scores)):
                if left[x] != right[y]:  # equal after folding: a leak, reported (and blocking) elsewhere
                    pairs.append((int(a[x]), int(b[y]), float(scores[x, y])))
    return pairs


def _bucket_pairs(text: pd.Series, splits: np.ndarray, useful: np.ndarray,
                  threshold: float) -> tuple[list[tuple[int, int, float]], str, bool]:
    """Cross-split pairs among rows that share their first or last characters; only the buckets worth
    comparing (2..NEAR_BUCKET_MAX rows, more than one split) are compared, each in one cdist call."""
    from rapidfuzz import fuzz, process

    rows = np.flatnonzero(useful)
    sub = text.iloc[rows]
    split_codes = pd.factorize(splits[rows])[0]
    seen: set[tuple[int, int]] = set()
    pairs, compared, skipped, stopped = [], 0, 0, False
    for bucket in (sub.str.slice(0, NEAR_BUCKET_CHARS), sub.str.slice(-NEAR_BUCKET_CHARS)):
        codes = pd.factorize(bucket)[0]
        sizes = np.bincount(codes)
        spread = pd.Series(split_codes).groupby(codes).nunique().to_numpy()
        worth = (sizes > 1) & (spread > 1)
        skipped += int((worth & (sizes > NEAR_BUCKET_MAX)).sum())
        worth &= sizes <= NEAR_BUCKET_MAX
        candidates = np.flatnonzero(worth[codes])
        if not len(candidates):
            continue
        order = candidates[np.argsort(codes[candidates], kind="stable")]
        values = sub.iloc[order].tolist()
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for start, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(order)]):
            members = rows[order[start:end]]
            scores = process.cdist(values[start:end], values[start:end], scorer=fuzz.ratio,
                                   score_cutoff=threshold, dtype=np.uint8, workers=1)
            compared += (end - start) * (end - start - 1) // 2
            for x, y in zip(*np.nonzero(np.triu(scores, 1))):
                i, j = int(members[x]), int(members[y])
                if splits[i] != splits[j] and values[start + x] != values[start + y] and (i, j) not in seen:
                    seen.add((i, j))
                    pairs.append((i, j, float(scores[x, y])))
            if compared >= NEAR_MAX_COMPARISONS:
                stopped = True
                break
        if stopped:
            break
    notes = [f"the table being large, only rows sharing their first or last {NEAR_BUCKET_CHARS} characters "
             "were compared"]
    if skipped:
        notes.append(f"{skipped:,} groups of more than {NEAR_BUCKET_MAX} such rows were skipped")
    if stopped:
        notes.append(f"stopped after {compared:,} comparisons")
    return pairs, "; ".join(notes), bool(skipped or stopped)
