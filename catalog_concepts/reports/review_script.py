"""The contact sheet's inline script: ticked boxes -> the decisions CSV, built and downloaded in the browser.

Plain JavaScript with no network access, so the page stays one self-contained file behind a
presigned link. The CSV has exactly the columns catalog_concepts.review.decisions reads (asset_id, decision,
reviewer, note), one row per ticked image in page order; the download stays disabled until a
reviewer name is typed, because the review flow refuses rows without one. It also fills each
card's 2x view from its thumbnail.
"""

REVIEW_SCRIPT = r"""
(function () {
  "use strict";
  var HEADER = "asset_id,decision,reviewer,note";
  var chosen = {};  // asset_id -> "approve" | "reject"
  var panel = document.getElementById("review-panel");
  var reviewer = document.getElementById("reviewer");
  var note = document.getElementById("note");
  var output = document.getElementById("decisions-csv");
  var button = document.getElementById("download-csv");
  var count = document.getElementById("decision-count");
  var hint = document.getElementById("panel-hint");

  function boxes(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }

  // Each 2x view shows its card's thumbnail: the bytes travel once in the page.
  boxes("img.thumb2x").forEach(function (view) { view.src = view.parentNode.querySelector("img.thumb").src; });

  function cell(value) {
    // RFC 4180: quote a cell holding a comma, quote or line break; double its quotes.
    var text = String(value == null ? "" : value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function csv() {
    var lines = [HEADER];
    var seen = {};
    boxes(".decide-box").forEach(function (box) {
      var asset = box.dataset.assetId;
      if (seen[asset] || !chosen[asset]) { return; }
      seen[asset] = true;
      lines.push([asset, chosen[asset], reviewer.value.trim(), note.value.trim()].map(cell).join(","));
    });
    return { text: lines.join("\n") + "\n", rows: lines.length - 1 };
  }

  function choose(asset, verdict, on) {
    if (on) { chosen[asset] = verdict; } else if (chosen[asset] === verdict) { delete chosen[asset]; }
    boxes(".decide-box").forEach(function (box) {
      if (box.dataset.assetId === asset) { box.checked = chosen[asset] === box.dataset.verdict; }
    });
  }

  function refresh() {
    var made = csv();
    output.value = made.text;
    count.textContent = made.rows + (made.rows === 1 ? " decision" : " decisions");
    var named = reviewer.value.trim().length > 0;
    button.disabled = made.rows === 0 || !named;
    hint.textContent = made.rows && !named ? "type your name to download" : "";
    // A group box shows ticked when every image of its group has that verdict, half-ticked when some do.
    boxes(".group-box").forEach(function (box) {
      var members = boxes(".decide-box[data-verdict='" + box.dataset.verdict + "']").filter(function (b) {
        return b.dataset.group === box.dataset.group;
      });
      var on = members.filter(function (b) { return b.checked; }).length;
      box.checked = members.length > 0 && on === members.length;
      box.indeterminate = on > 0 && on < members.length;
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.classList.contains("decide-box")) {
      choose(box.dataset.assetId, box.dataset.verdict, box.checked);
    } else if (box.classList.contains("group-box")) {
      boxes(".decide-box[data-verdict='" + box.dataset.verdict + "']").forEach(function (member) {
        if (member.dataset.group === box.dataset.group) { choose(member.dataset.assetId, box.dataset.verdict, box.checked); }
      });
    } else {
      return;
    }
    refresh();
  });
  reviewer.addEventListener("input", refresh);
  note.addEventListener("input", refresh);

  document.getElementById("clear-decisions").addEventListener("click", function () {
    Object.keys(chosen).forEach(function (asset) { choose(asset, chosen[asset], false); });
    refresh();
  });

  button.addEventListener("click", function () {
    var made = csv();
    var link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([made.text], { type: "text/csv" }));
    link.download = "decisions-" + panel.dataset.runId + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });

  refresh();
})();
"""
