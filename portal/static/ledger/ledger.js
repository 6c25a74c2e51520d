// Ledger explorer: live rows from the organization's feed (portal:event, dispatched by app.js).
// Progressive enhancement only: every page is complete without this file.
(function () {
  "use strict";
  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }
  function onBlock(d) {
    var table = document.getElementById("ledger-blocks");
    if (!table || new URLSearchParams(location.search).get("page") > 1) { return; }
    var body = table.tBodies[0], empty = body.querySelector(".empty-row");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr"), td = document.createElement("td"), a = document.createElement("a");
    a.href = table.getAttribute("data-block-url").replace(/\/0\/$/, "/" + d.height + "/");
    a.textContent = d.height; td.appendChild(a); tr.appendChild(td);
    tr.appendChild(cell(new Date(d.timestamp_ms).toISOString().slice(0, 19).replace("T", " ")));
    tr.appendChild(cell(d.proposer_name || d.proposer));
    tr.appendChild(cell(d.tx_count));
    tr.appendChild(cell((d.signers || []).join(", ")));
    var code = document.createElement("code"), h = document.createElement("td");
    code.textContent = d.hash.slice(0, 16) + "…"; h.appendChild(code); tr.appendChild(h);
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 50) { body.deleteRow(body.rows.length - 1); }
  }
  function onTx(d) {
    var row = document.querySelector('#ledger-outbox tr[data-tx-hash="' + d.tx_hash + '"]');
    if (!row) { return; }
    var status = row.querySelector('[data-field="status"]'), height = row.querySelector('[data-field="height"]');
    status.textContent = d.status + (d.code ? " " + d.code : "");
    if (d.height) { height.textContent = d.height; }
  }
  document.addEventListener("portal:event", function (e) {
    var ev = e.detail || {};
    if (ev.type === "block.committed") { onBlock(ev.data || {}); }
    if (ev.type === "ledger.tx") { onTx(ev.data || {}); }
  });
})();
