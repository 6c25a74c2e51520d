// Biometrics pages: webcam capture for the enrollment wizard, live progress for an enrollment.
// Progressive enhancement only: without this file the forms and pages still work.
(function () {
  "use strict";

  // --- webcam capture: photos taken here join the form's file input -------------------------
  function setupCamera(form) {
    var box = document.getElementById("camera"), input = form.querySelector("input[type=file]");
    if (!box || !input || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
        typeof DataTransfer === "undefined") { return; }
    box.hidden = false;
    var start = document.getElementById("camera-start"), shoot = document.getElementById("camera-shoot");
    var video = document.getElementById("camera-video"), status = document.getElementById("camera-status");
    var shots = document.getElementById("camera-shots"), captured = [];

    function syncInput() {
      var transfer = new DataTransfer();
      captured.forEach(function (file) { transfer.items.add(file); });
      input.files = transfer.files;
      status.textContent = captured.length + " photo(s) ready (at most 5).";
    }
    start.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: false })
        .then(function (stream) {
          video.srcObject = stream; video.hidden = false; shoot.hidden = false; start.hidden = true;
          return video.play();
        })
        .then(function () { shoot.focus(); status.textContent = "Camera on."; })
        .catch(function (err) { status.textContent = "The camera is not available (" + err.name + "); choose files instead."; });
    });
    shoot.addEventListener("click", function () {
      if (captured.length >= 5) { status.textContent = "At most 5 photos."; return; }
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        var file = new File([blob], "camera-" + (captured.length + 1) + ".jpg", { type: "image/jpeg" });
        captured.push(file);
        var li = document.createElement("li"), img = document.createElement("img");
        li.className = "card"; img.src = URL.createObjectURL(blob); img.width = 160;
        img.alt = "Captured photo " + captured.length; li.appendChild(img); shots.appendChild(li);
        syncInput();
      }, "image/jpeg", 0.92);
    });
    form.addEventListener("submit", function () {
      if (video.srcObject) { video.srcObject.getTracks().forEach(function (t) { t.stop(); }); }
    });
  }

  // --- enrollment progress: websocket feed, with polling as the fallback -----------------------
  function setupProgress(el) {
    if (el.getAttribute("data-finished")) { return; }
    var id = Number(el.getAttribute("data-enrollment-id"));
    var bar = document.getElementById("enrollment-progress"), text = document.getElementById("enrollment-status");
    var done = false;
    function show(status, progress) {
      bar.value = progress; bar.textContent = progress + "%";
      text.innerHTML = "";
      text.appendChild(document.createTextNode("Status: "));
      var strong = document.createElement("strong"); strong.textContent = status; text.appendChild(strong);
      text.appendChild(document.createTextNode(" (" + progress + "%)"));
      if (!done && (status === "succeeded" || status === "failed")) {
        done = true; setTimeout(function () { window.location.reload(); }, 400);
      }
    }
    if (window.WebSocket) {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + el.getAttribute("data-feed-url"));
      ws.onmessage = function (msg) {
        var ev = JSON.parse(msg.data), d = ev.data || {};
        if (ev.type === "enrollment.progress" && d.enrollment_id === id) { show(d.status, d.progress); }
      };
    }
    // Polling catches up if the socket is down or an event was missed.
    (function poll() {
      if (done) { return; }
      fetch(el.getAttribute("data-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) { if (body) { show(body.status, body.progress); } })
        .catch(function () {})
        .then(function () { setTimeout(poll, 2000); });
    })();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("enroll-form");
    if (form) { setupCamera(form); }
    var progress = document.getElementById("enrollment");
    if (progress) { setupProgress(progress); }
  });
})();
