// Map callbacks for dash-leaflet, referenced from Python as dashExtensions.paht.<name>.
// A feature is either a grid cell (n count, p pending, o overdue) or a report (c code, s status,
// k category, a agency, d date); names and texts come from hideout.
(function () {
  // 12345 -> "12.345", the Vietnamese way, whatever the browser's locale data.
  var fmt = function (n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "."); };
  // Blue when nothing in the cell is overdue, red from a fifth overdue on: the share that needs action.
  var cellColor = function (p) {
    var t = Math.min(1, 5 * p.o / Math.max(1, p.n));
    var low = [31, 111, 178], high = [220, 53, 69];
    return "rgb(" + low.map(function (c, i) { return Math.round(c + (high[i] - c) * t); }).join(",") + ")";
  };

  var cellMarker = function (p, latlng, context) {
    var h = context.hideout || {};
    // The side grows with the count's order of magnitude: cells of 10 and of 100.000 both stay readable.
    var size = Math.round(26 + 8 * Math.log10(Math.max(1, p.n)));
    var marker = L.marker(latlng, {
      icon: L.divIcon({
        className: "map-cell", iconSize: [size, size],
        html: "<div style='background:" + cellColor(p) + "'><span>" + fmt(p.n) + "</span></div>"
      }),
      keyboard: false
    });
    if (h.cellTooltip) {
      marker.bindTooltip(h.cellTooltip.replace("{n}", fmt(p.n)).replace("{p}", fmt(p.p)).replace("{o}", fmt(p.o)));
    }
    if (h.cellZoom) {
      marker.on("click", function () {
        var map = context.map;
        map.setView(latlng, Math.min(map.getZoom() + 2, map.getMaxZoom()));
      });
    }
    return marker;
  };

  window.dashExtensions = Object.assign({}, window.dashExtensions, {
    paht: {
      pointToLayer: function (feature, latlng, context) {
        var p = feature.properties;
        if (p.n !== undefined) { return cellMarker(p, latlng, context); }
        var colors = (context.hideout && context.hideout.colors) || {};
        return L.circleMarker(latlng, {
          radius: 6, weight: 1, color: "#ffffff", fillOpacity: 0.9, className: "map-point",
          fillColor: colors[p.s] || "#555555"
        });
      },
      reportPopup: function (feature, layer, context) {
        var p = feature.properties;
        if (p.n !== undefined) { return; }
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
})();
