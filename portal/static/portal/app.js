// Alliance Portal: progressive enhancement only; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.value) { el.form.submit(); }
  });
  document.addEventListener("submit", function (e) {
    var form = e.target, question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
  document.addEventListener("click", function (e) {
    var btn = e.target.closest && e.target.closest("[data-copy]");
    if (!btn) { return; }
    var source = document.querySelector(btn.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () { btn.textContent = "Copied"; });
    }
  });

  // Live feed of the organization (websocket), with reconnection and bounded back-off.
  // Which events arrive depends on the role: admins get audit.created and member.changed,
  // members do not. Any event may be missing or carry partial data: describe what is there.
  function text(value, fallback) {
    return value === undefined || value === null || value === "" ? fallback : String(value);
  }
  function describe(ev) {
    var d = (ev && ev.data) || {}, n;
    switch (ev && ev.type) {
      case "audit.created":
        return [text(d.actor, "Someone"), text(d.action, "acted"), text(d.object_repr, "")].join(" ").trim();
      case "block.committed":
        n = Number(d.tx_count) || 0;
        return "Block " + text(d.height, "?") + " committed (" + n + " transaction" + (n === 1 ? "" : "s") + ")";
      case "enrollment.progress":
        return "Enrollment " + text(d.enrollment_id, "?") + ": " + text(d.status, "in progress") + " " + (Number(d.progress) || 0) + "%";
      case "ledger.tx":
        return "Ledger " + text(d.tx_type, "transaction") + ": " + text(d.status, "updated");
      case "payment.updated":
        return "Payment " + text(d.id, "?") + ": " + text(d.status, "updated");
      default:
        return text(ev && ev.type, "Event");
    }
  }
  window.portalDescribeEvent = describe;  // for the tests of this file
  function connectFeed(list) {
    var status = document.getElementById("feed-status"), delay = 1000;
    function open() {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + list.getAttribute("data-feed-url"));
      ws.onopen = function () { delay = 1000; if (status) { status.textContent = "Connected. New events appear below."; } };
      ws.onmessage = function (msg) {
        var ev;
        try { ev = JSON.parse(msg.data); } catch (err) { return; }
        if (!ev || typeof ev !== "object" || ev.type === "feed.ready" || ev.type === "pong") { return; }
        var li = document.createElement("li"), t = document.createElement("time");
        t.textContent = (ev.at || "").slice(11, 19); li.appendChild(t);
        li.appendChild(document.createTextNode(" " + describe(ev)));
        list.insertBefore(li, list.firstChild);
        while (list.children.length > 50) { list.removeChild(list.lastChild); }
        document.dispatchEvent(new CustomEvent("portal:event", { detail: ev }));
      };
      ws.onclose = function () {
        if (status) { status.textContent = "Disconnected; retrying…"; }
        setTimeout(open, delay); delay = Math.min(delay * 2, 30000);
      };
    }
    open();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("live-feed");
    if (list && window.WebSocket) { connectFeed(list); }
  });
})();
