// The wall screen's own watchdog. Every refresh it asks the server whether the screen may still show:
// a revoked screen goes to the "revoked" page, a lost session reloads (the token in the URL signs it in
// again), and an unreachable server is simply waited out — the last data stays on screen.
(function () {
  function settings() {
    var el = document.getElementById("wall-root");
    return el ? el : null;
  }
  function check() {
    if (!settings()) { return; }
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
  window.setInterval(check, 15000);
})();
