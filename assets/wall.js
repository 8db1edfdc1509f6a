// The wall screen's own watchdog. Every refresh it asks the server whether the screen may still show:
// a revoked screen goes to the "revoked" page, a lost session reloads (the token in the URL signs it in
// again), and an unreachable server is simply waited out — the last data stays on screen.
// It checks twice per refresh interval, so a revoked screen leaves within one refresh.
(function () {
  function wall() { return document.getElementById("wall-root"); }
  function check() {
    if (!wall()) { return; }
    fetch("/api/v1/wall/heartbeat", {credentials: "same-origin", headers: {"X-Requested-With": "XMLHttpRequest"}})
      .then(function (resp) {
        if (resp.status === 403) {
          return resp.json().then(function (body) {
            if (body && body.error === "screen_revoked") { window.location.href = "/wall/revoked"; }
          });
        }
        if (resp.status === 401) { window.location.reload(); }
      })
      .catch(function () { /* server down or restarting: keep showing the last data */ });
  }
  var timer = null, period = 0;
  function schedule() {
    var el = wall();
    var refresh = el ? parseInt(el.getAttribute("data-refresh") || "30", 10) : 30;
    var next = Math.max(5, Math.min(refresh, 3600)) * 500;  // half the refresh, in ms
    if (next !== period) {
      if (timer) { window.clearInterval(timer); }
      period = next;
      timer = window.setInterval(check, period);
    }
  }
  window.setInterval(schedule, 2000);
  schedule();
})();
