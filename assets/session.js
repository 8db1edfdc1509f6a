// When the server answers a Dash callback with 401 (signed out after being idle, or the session is gone),
// go to the sign-in page and come back here afterwards, instead of leaving a page that silently stops
// updating. Wall screens have their own watchdog (wall.js) and are never signed out for being idle.
(function () {
  if (!window.fetch || window.location.pathname.indexOf("/wall") === 0) { return; }
  var original = window.fetch;
  var leaving = false;
  window.fetch = function () {
    return original.apply(this, arguments).then(function (resp) {
      var url = resp && resp.url ? resp.url : "";
      if (resp && resp.status === 401 && !leaving && url.indexOf("/_dash-") !== -1) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        window.location.href = "/login?next=" + encodeURIComponent(here);
      }
      return resp;
    });
  };
})();
