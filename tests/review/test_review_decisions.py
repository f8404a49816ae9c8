"""Decision-file rows checked one by one: the verdict and reason each kind of row must get."""

import pytest

from catalog_concepts.review.decisions import check_decisions, decisions_format, parse_decisions

MANIFEST = {
    "a1": {"decision": "human_review", "review_status": "pending"},
    "a2": {"decision": "human_review", "review_status": "pending"},
    "a3": {"decision": "human_review", "review_status": "pending"},
    "pub": {"decision": "publish_labeled_preview", "review_status": "not_required"},
    "rej": {"decision": "reject", "review_status": "not_applicable"},
    # Sent to review by the policy, then dropped by per-SKU selection: stored for audit only.
    "drop": {"decision": "human_review", "review_status": "not_applicable", "drop_reason": "below top-1 of SKU"},
}
DECIDED = {"a3": "approve by ana in batch b-0000000000000000"}


def _row(asset_id="a1", decision="approve", reviewer="ana", note=None):
    return {"asset_id": asset_id, "decision": decision, "reviewer": reviewer, "note": note}


@pytest.mark.parametrize(
    "row, reason",
    [
        (_row(), None),
        (_row(decision="reject", note="wrong colour"), None),
        (_row(decision=" APPROVE "), None),  # spreadsheets shout and pad
        (_row(asset_id=""), "asset_id is empty"),
        (_row(asset_id=None), "asset_id is empty"),
        (_row(decision="maybe"), "decision 'maybe' is not one of approve, reject"),
        (_row(reviewer="  "), "reviewer is empty"),
        (_row(reviewer=float("nan")), "reviewer is empty"),
        (_row(asset_id="nope"), "unknown asset_id: in no committed run manifest"),
        (_row(asset_id="pub"), "not awaiting review: the policy decided 'publish_labeled_preview'"),
        (_row(asset_id="rej"), "not awaiting review: the policy decided 'reject'"),
        (_row(asset_id="drop"), "not awaiting review: review_status is 'not_applicable' (below top-1 of SKU)"),
        (_row(asset_id="a3"), "already decided: approve by ana in batch b-0000000000000000"),
    ],
)
def test_single_row_verdicts(row, reason):
    check = check_decisions([row], MANIFEST, DECIDED)
    if reason is None:
        assert [d.asset_id for d in check.accepted] == [row["asset_id"]] and not check.rejected
    else:
        assert not check.accepted
        assert [(r.source_row, r.reason) for r in check.rejected] == [(1, reason)]


def test_duplicates_keep_the_first_row_and_refuse_the_rest():
    check = check_decisions([_row(), _row(reviewer="bo"), _row()], MANIFEST, {})
    assert [(d.asset_id, d.reviewer, d.source_row) for d in check.accepted] == [("a1", "ana", 1)]
    assert [(r.source_row, r.reason) for r in check.rejected] == [(2, "duplicate of row 1"), (3, "duplicate of row 1")]


def test_conflicting_rows_refuse_the_asset_entirely_but_not_other_rows():
    check = check_decisions([_row(), _row("a2"), _row(decision="reject")], MANIFEST, {})
    assert [d.asset_id for d in check.accepted] == ["a2"]
    assert [(r.source_row, r.reason) for r in check.rejected] == [
        (1, "conflicting decisions for this asset in this file (rows 1, 3)"),
        (3, "conflicting decisions for this asset in this file (rows 1, 3)"),
    ]


@pytest.mark.parametrize(
    "name, expected",
    [("d.csv", "csv"), ("s3://b/x/D.PARQUET", "parquet"), ("d.xlsx", None), ("noext", None)],
)
def test_decisions_format(name, expected):
    if expected:
        assert decisions_format(name) == expected
    else:
        with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
            decisions_format(name)


def test_csv_keeps_ids_as_text_and_note_optional():
    rows = parse_decisions(b"asset_id,decision,reviewer\n00123,approve,ana\n", "csv")
    assert rows == [{"asset_id": "00123", "decision": "approve", "reviewer": "ana", "note": None}]


def test_a_file_without_required_columns_is_refused_whole():
    with pytest.raises(ValueError, match=r"lacks columns \['reviewer'\]"):
        parse_decisions(b"asset_id,decision\na1,approve\n", "csv")
