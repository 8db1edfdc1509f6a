// Map callbacks for dash-leaflet, referenced from Python as dashExtensions.paht.<name>.
// Point properties are lean (c code, s status, k category, a agency, d date); names come from hideout.
window.dashExtensions = Object.assign({}, window.dashExtensions, {
  paht: {
    pointToLayer: function (feature, latlng, context) {
      var colors = (context.hideout && context.hideout.colors) || {};
      return L.circleMarker(latlng, {
        radius: 6, weight: 1, color: "#ffffff", fillOpacity: 0.9,
        fillColor: colors[feature.properties.s] || "#555555"
      });
    },
    reportPopup: function (feature, layer, context) {
      var p = feature.properties;
      if (p.cluster) { return; }
      var h = context.hideout || {};
      var esc = function (s) {
        return String(s == null ? "" : s).replace(/[&<>"]/g, function (ch) {
          return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[ch];
        });
      };
      var name = function (table, key, fallback) { return (h[table] && h[table][key]) || fallback; };
      layer.bindPopup(
        "<div class='popup'><b><a href='/report/" + encodeURIComponent(p.c) + "'>" + esc(p.c) + "</a></b><br>" +
        esc(name("category", p.k, "")) + "<br>" +
        "<span class='popup-status' style='color:" + esc(name("colors", p.s, "#333")) + "'>" +
        esc(name("status", p.s, p.s)) + "</span><br>" +
        esc(name("agency", p.a, h.unassigned || "")) + "<br>" +
        "Tiếp nhận: " + esc(p.d) + "</div>"
      );
    },
    districtTooltip: function (feature, layer) {
      layer.bindTooltip(feature.properties.name, {sticky: true});
    }
  }
});
