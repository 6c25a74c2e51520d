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
  function describe(ev) {
    var d = ev.data || {};
    if (ev.type === "audit.created") { return d.actor + " " + d.action + " " + (d.object_repr || ""); }
    if (ev.type === "block.committed") { return "Block " + d.height + " committed (" + (d.tx_count || 0) + " transactions)"; }
    if (ev.type === "enrollment.progress") { return "Enrollment " + d.enrollment_id + ": " + d.status + " " + (d.progress || 0) + "%"; }
    return ev.type;
  }
  function connectFeed(list) {
    var status = document.getElementById("feed-status"), delay = 1000;
    function open() {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + list.getAttribute("data-feed-url"));
      ws.onopen = function () { delay = 1000; if (status) { status.textContent = "Connected. New events appear below."; } };
      ws.onmessage = function (msg) {
        var ev = JSON.parse(msg.data);
        if (ev.type === "feed.ready" || ev.type === "pong") { return; }
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
