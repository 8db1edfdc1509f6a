// Every page's Dash callbacks go through this fetch wrapper (the wall has its own watchdog in wall.js):
// - 401 (signed out after being idle, or the session is gone): go to the sign-in page and come back here
//   afterwards, instead of leaving a page that silently stops updating.
// - 503 (the database is unreachable or a query ran past its time limit): keep the page's last data and say so
//   in a bar over the page, with the time that data was loaded; the next answered callback takes the bar away.
(function () {
  if (!window.fetch || window.location.pathname.indexOf("/wall") === 0) { return; }
  var original = window.fetch;
  var leaving = false;
  var lastLoaded = null;  // when a callback last answered with data

  function localTime(when) {
    // HH:MM dd/mm/yyyy in the province's time zone, whatever the browser's own zone is.
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {timeZone: "Asia/Ho_Chi_Minh", hour: "2-digit", minute: "2-digit",
      day: "2-digit", month: "2-digit", year: "numeric", hourCycle: "h23"})
      .formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
    return parts.hour + ":" + parts.minute + " " + parts.day + "/" + parts.month + "/" + parts.year;
  }

  function bar() {
    var el = document.getElementById("page-outage");
    if (!el) {
      el = document.createElement("div");
      el.id = "page-outage";
      el.className = "banner banner-error page-outage hidden";
      el.setAttribute("role", "alert");
      document.body.appendChild(el);
    }
    return el;
  }

  function showOutage(body) {
    var message = body && body.message ? body.message : "";
    if (lastLoaded && body && body.since) {
      message = body.since.replace("{time}", localTime(lastLoaded));
    }
    var el = bar();
    el.textContent = message;
    el.classList.toggle("hidden", !message);
  }

  window.fetch = function () {
    return original.apply(this, arguments).then(function (resp) {
      var url = resp && resp.url ? resp.url : "";
      if (!resp || url.indexOf("/_dash-update-component") === -1) { return resp; }
      if (resp.status === 401 && !leaving) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        window.location.href = "/login?next=" + encodeURIComponent(here);
      } else if (resp.status === 503) {
        resp.clone().json().then(showOutage, function () { showOutage(null); });
      } else if (resp.ok) {
        lastLoaded = new Date();
        var el = document.getElementById("page-outage");
        if (el) { el.classList.add("hidden"); }
      }
      return resp;
    });
  };
})();
