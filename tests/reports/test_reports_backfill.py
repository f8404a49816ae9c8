"""A backfill's own report: one row per date from its per-date summaries (committed, already committed, failed)."""

from catalog_concepts.reports.backfill import NOT_KNOWN, backfill_markdown, backfill_rows

LINK = "http://127.0.0.1:8333/b/reports/run_date%3D2026-10-01/r1.html?Signature=s&Expires=1"
SUMMARIES = [
    {"run_date": "2026-10-01", "status": "committed", "run_id": "2026-10-01-aaaa", "images": 6,
     "decisions": {"publish_labeled_preview": 1, "human_review": 4, "reject": 1},
     "report_uri": "s3://b/reports/run_date=2026-10-01/r1.html", "report_link": LINK,
     "flow_run_id": "0f0f", "flow_run_url": "http://127.0.0.1:4242/runs/flow-run/0f0f"},
    # A date committed by an earlier run: the nightly returns images=0, its counts come from its manifest.
    {"run_date": "2026-10-02", "status": "already_committed", "run_id": "2026-10-02-bbbb", "images": 0,
     "decisions": {"human_review": 3}, "report_uri": "s3://b/reports/run_date=2026-10-02/r2.html", "report_link": LINK,
     "flow_run_id": "1e1e"},
    {"run_date": "2026-10-03", "status": "failed", "flow_run_id": "2d2d",
     "error": "Flow run encountered an exception: CatalogRejectedError: 12% bad rows | over 5%\nsee quarantine"},
]


def test_one_row_per_date_with_counts_status_and_links():
    rows = backfill_rows(SUMMARIES)
    assert [r["run_date"] for r in rows] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    assert [r["status"] for r in rows] == ["committed", "already_committed", "failed"]
    assert [r["run_id"] for r in rows] == ["2026-10-01-aaaa", "2026-10-02-bbbb", NOT_KNOWN]
    first, second, failed = rows
    assert (first["publish_labeled_preview"], first["human_review"], first["reject"], first["images"]) == (1, 4, 1, 6)
    assert (second["publish_labeled_preview"], second["human_review"], second["reject"], second["images"]) == (0, 3, 0, 3)
    # A failed date's counts are unknown, not zero.
    assert (failed["human_review"], failed["images"], failed["contact_sheet_link"]) == (NOT_KNOWN, NOT_KNOWN, NOT_KNOWN)
    assert first["contact_sheet_link"] == LINK and first["flow_run"].endswith("/runs/flow-run/0f0f")
    assert second["flow_run"] == "1e1e"  # no UI URL known: the id


def test_markdown_links_every_date_and_keeps_the_table_intact():
    page = backfill_markdown(backfill_rows(SUMMARIES), "2026-10-01", "2026-10-03")
    assert page.startswith("# Backfill 2026-10-01 .. 2026-10-03")
    assert "3 dates, 2 done, 1 failed (2026-10-03)." in page
    table = [line for line in page.splitlines() if line.startswith("| 2026-")]
    assert len(table) == 3
    header = next(line for line in page.splitlines() if line.startswith("| date"))
    # Every row has the header's number of cells: the error's "|" and newline cannot break the table.
    assert all(line.count(" | ") == header.count(" | ") for line in table), table
    assert f"[open]({LINK})" in table[0] and "(http://127.0.0.1:4242/runs/flow-run/0f0f)" in table[0]
    assert "`2026-10-01-aaaa`" in table[0] and "| 1 | 4 | 1 | 6 |" in table[0]
    assert "`1e1e`" in table[1] and "| 0 | 3 | 0 | 3 |" in table[1]
    assert "failed: Flow run encountered an exception: CatalogRejectedError: 12% bad rows \\| over 5% see quarantine" in table[2]
    assert "catalog-concepts ops report-link <date> <run id>" in page


def test_an_unknown_decision_gets_its_own_column():
    rows = backfill_rows([{**SUMMARIES[0], "decisions": {"human_review": 1, "hold": 2}}])
    assert (rows[0]["hold"], rows[0]["images"]) == (2, 3)
    assert "| hold |" in backfill_markdown(rows, "2026-10-01", "2026-10-01")
