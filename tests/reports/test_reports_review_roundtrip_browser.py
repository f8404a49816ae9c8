"""The contact sheet as a review tool, end to end: a real nightly run (the shipped model on CPU: the tiny
random model's images fail the alignment bound, so selection keeps none of them) publishes its sheet to the
real local S3; headless chromium opens it by its presigned link, a reviewer ticks one image and one rule group
and types a name, chromium downloads the decisions CSV the page built, the review flow ingests that file, the
images are promoted, and the re-rendered sheet shows who approved them.

The CSV is taken from chromium's download folder (Browser.setDownloadBehavior over the DevTools protocol), the
file a person would get; the clicks and the typing are DevTools input events at the boxes' positions.
"""

import csv
import hashlib
import io
import json
import shutil
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness
from websockets.sync.client import connect

from catalog.sample import SAMPLE_CATALOG_PATH
from catalog_concepts.local_services.prefect_server import stop_process_group
from catalog_concepts.review.log import read_review_log
from catalog_concepts.review.queue import review_status
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import boto3_client
from flows.nightly import nightly_campaign
from flows.resources import SHIPPED_MODEL_DIR
from flows.review import review

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium missing: run `make browser`")]
REVIEWER = "Ana Reviewer"


class Browser:
    """Headless chromium over the DevTools protocol: one page, clicks and typing as input events, downloads to a folder."""

    def __init__(self, profile: Path, downloads: Path):
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                   f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,1600", "about:blank"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"  # chromium writes the port it chose here once it listens
        deadline = time.monotonic() + 120
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.process.poll() is None and time.monotonic() < deadline, "chromium did not start"
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=30) as response:
            browser_url = json.load(response)["webSocketDebuggerUrl"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page_url = next(t for t in json.load(response) if t["type"] == "page")["webSocketDebuggerUrl"]
        self.browser = connect(browser_url, max_size=None, open_timeout=60)
        self.page = connect(page_url, max_size=None, open_timeout=60)
        self.last_id = 0
        self.send(self.browser, "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))

    def send(self, socket, method: str, **params) -> dict:
        self.last_id += 1
        socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            message = json.loads(socket.recv(timeout=180))
            if message.get("id") == self.last_id:
                assert "error" not in message, (method, message["error"])
                return message["result"]

    def evaluate(self, expression: str):
        result = self.send(self.page, "Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, (expression[:200], result["exceptionDetails"])
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.send(self.page, "Page.navigate", url=url)
        deadline = time.monotonic() + 120
        while self.evaluate("document.readyState") != "complete" or not self.evaluate("!!document.getElementById('review-panel')"):
            assert time.monotonic() < deadline, f"the sheet did not load: {self.evaluate('document.body && document.body.innerText')!r:.500}"
            time.sleep(0.2)

    def click(self, selector: str) -> None:
        """A left click at the middle of the element, as a mouse would do it."""
        x, y = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(self.page, "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type_into(self, selector: str, text: str) -> None:
        self.click(selector)
        self.send(self.page, "Input.insertText", text=text)

    def close(self) -> None:
        try:
            self.page.close()
            self.browser.close()
        finally:
            stop_process_group(self.process)


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def browser(tmp_path):
    (tmp_path / "downloads").mkdir()
    session = Browser(tmp_path / "profile", tmp_path / "downloads")
    try:
        yield session
    finally:
        session.close()


def _downloaded(folder: Path, timeout_s: float = 120) -> Path:
    """The finished download (chromium writes NAME.crdownload and renames it when complete)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        assert time.monotonic() < deadline, f"no download in {timeout_s} s: {sorted(folder.iterdir())}"
        time.sleep(0.2)


def test_ticked_boxes_become_a_decisions_file_that_promotes_the_images(harness, s3_env, browser, tmp_path):
    s3 = s3_env
    summary = nightly_campaign(catalog_uri=str(SAMPLE_CATALOG_PATH), allow_sample_catalog=True, model=str(SHIPPED_MODEL_DIR),
                               variants_per_sku=2, max_bad_fraction=0.25, limit=24, skus_per_shard=24, batch_size=8)
    assert summary["status"] == "committed", summary
    rows = read_manifests(s3).to_pylist()
    waiting = [r for r in rows if r["decision"] == "human_review" and r["kept"] and r["review_status"] == "pending"]
    groups: dict[str, list[dict]] = {}
    for row in waiting:
        groups.setdefault(" + ".join(row["rule_ids"]) or "(no rule)", []).append(row)
    print({name: len(members) for name, members in groups.items()}, f"{len(rows)} images, {len(waiting)} waiting",
          Counter((r["decision"], r["kept"], r["review_status"]) for r in rows))
    group_name, group = max(groups.items(), key=lambda kv: (len(kv[1]), kv[0]))
    assert len(group) >= 2, f"the run needs a rule group of 2+ waiting images: {groups}"
    others = [r for name, members in groups.items() if name != group_name for r in members]
    single = (others or group)[0]
    expected = {r["asset_id"] for r in group} | {single["asset_id"]}

    # 1. Open the published sheet by its presigned link, as a reviewer would.
    browser.open(summary["report_link"])
    dropped = [r["asset_id"] for r in rows if r["kept"] is False]
    for asset in dropped[:3]:
        # A candidate selection dropped is marked as such and offers no boxes.
        assert browser.evaluate(f"document.querySelector(\".card[data-asset-id='{asset}']\").dataset.status") == "dropped"
        assert not browser.evaluate(f"!!document.querySelector(\".decide-box[data-asset-id='{asset}']\")")
    assert browser.evaluate("document.getElementById('download-csv').disabled")

    # 2. Tick one image, and "approve all" of the biggest rule group; type a name; download.
    if single["asset_id"] not in {r["asset_id"] for r in group}:
        browser.click(f".decide-box[data-asset-id='{single['asset_id']}'][data-verdict='approve']")
    group_box = f".group-box[data-group={json.dumps(f'human_review|{group_name}')}][data-verdict='approve']"
    browser.click(group_box)
    assert browser.evaluate("document.getElementById('download-csv').disabled"), "no reviewer yet: no download"
    browser.type_into("#reviewer", REVIEWER)
    assert browser.evaluate(f"document.querySelector({json.dumps(group_box)}).checked")
    browser.click("#download-csv")
    path = _downloaded(tmp_path / "downloads")
    assert path.name == f"decisions-{summary['run_id']}.csv"
    text = path.read_text()
    assert text == browser.evaluate("document.getElementById('decisions-csv').value")
    decided = list(csv.DictReader(io.StringIO(text)))
    assert {r["asset_id"] for r in decided} == expected
    assert {(r["decision"], r["reviewer"], r["note"]) for r in decided} == {("approve", REVIEWER, "")}

    # 3. The review flow ingests the downloaded file: every row accepted, every image promoted.
    state = review(decisions_uri=str(path), return_state=True)
    assert state.is_completed() and state.message.startswith(f"{len(expected)} accepted, 0 refused"), state.message
    result = state.result()
    assert result["promoted"] == len(expected) and len(result["reports"]) == 1
    status = {r["asset_id"]: r for r in review_status(read_manifests(s3), read_review_log(s3)).to_pylist()}
    client = boto3_client(s3)
    for asset in expected:
        assert status[asset]["review_status"] == "approved" and status[asset]["reviewer"] == REVIEWER
        published = status[asset]["published_s3_uri"].removeprefix(f"s3://{s3.bucket}/")
        assert published.startswith("images/")
        body = client.get_object(Bucket=s3.bucket, Key=published)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == status[asset]["sha256"]

    # 4. The re-rendered sheet says who approved what and offers no boxes for them any more.
    browser.open(result["reports"][0]["report_link"])
    for asset in expected:
        card = f"document.querySelector(\".card[data-asset-id='{asset}']\")"
        assert browser.evaluate(f"{card}.dataset.status") == "approved"
        assert f"approved by {REVIEWER} at " in browser.evaluate(f"{card}.innerText")
        assert not browser.evaluate(f"!!document.querySelector(\".decide-box[data-asset-id='{asset}']\")")
    left = len(waiting) - len(expected)
    assert browser.evaluate("document.getElementById('totals').innerText").endswith(f"{left} awaiting review, {len(expected)} reviewed")


def _sheet_rows() -> list[dict]:
    """Three waiting images (two in rule group R-A), one published: hand-made manifest rows."""
    def row(sku, decision, rules):
        return {"asset_id": f"{sku.lower():0<32}", "sku": sku, "variant": 0, "decision": decision, "rule_ids": rules,
                "decision_reasons": [f"{r} fired" for r in rules], "scores": {"alignment": 0.7}, "kept": True,
                "review_status": "pending" if decision == "human_review" else "not_required", "category": "mug",
                "prompt": f"a mug {sku}"}
    return [row("a1", "human_review", ["R-A"]), row("a2", "human_review", ["R-A"]), row("b1", "human_review", ["R-B"]),
            row("c1", "publish_labeled_preview", [])]


def test_the_page_builds_the_csv_the_reviewer_means(browser, tmp_path):
    """The page's script on its own (opened from a file): one verdict per image, group boxes, quoting, clear."""
    import numpy as np
    from PIL import Image

    from catalog_concepts.reports.contact_sheet import contact_sheet_html
    from catalog_concepts.review.decisions import parse_decisions

    rows = _sheet_rows()
    png = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(png, format="PNG")  # (H, W, 3)
    page = tmp_path / "sheet.html"
    page.write_text(contact_sheet_html("run", rows, {r["asset_id"]: png.getvalue() for r in rows}, {}, run_id="run-x"))
    browser.open(page.as_uri())
    a1, a2, b1 = (r["asset_id"] for r in rows[:3])
    box = ".decide-box[data-asset-id='{}'][data-verdict='{}']".format
    group = ".group-box[data-group='human_review|R-A'][data-verdict='{}']".format
    csv_now = "document.getElementById('decisions-csv').value"
    # The 2x views show the thumbnail's pixels, filled in by the script.
    assert browser.evaluate("[...document.querySelectorAll('img.thumb2x')].every(i => i.complete && i.naturalWidth === 64)")

    browser.type_into("#reviewer", "Bo")
    browser.type_into("#note", 'checked, "fine"')
    browser.click(box(b1, "approve"))
    browser.click(box(b1, "reject"))  # the later tick wins: one verdict per image
    assert browser.evaluate(f"document.querySelector({json.dumps(box(b1, 'approve'))}).checked") is False
    browser.click(group("approve"))
    browser.click(box(a2, "approve"))  # untick one member: the group box is half-ticked
    assert browser.evaluate(f"document.querySelector({json.dumps(group('approve'))}).indeterminate") is True
    decided = parse_decisions(browser.evaluate(csv_now).encode(), "csv")
    assert decided == [
        {"asset_id": a1, "decision": "approve", "reviewer": "Bo", "note": 'checked, "fine"'},
        {"asset_id": b1, "decision": "reject", "reviewer": "Bo", "note": 'checked, "fine"'},
    ]
    assert browser.evaluate("document.getElementById('decision-count').innerText") == "2 decisions"
    browser.click("#clear-decisions")
    assert browser.evaluate(csv_now) == "asset_id,decision,reviewer,note\n"
    assert browser.evaluate("document.getElementById('download-csv').disabled") is True
