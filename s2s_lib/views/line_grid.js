/* line_grid: an SVG line chart whose lines are picked by controls (s2s_lib.views.line_grid).
 * data = {title, x_label, y_label, log_y, y_range: [lo, hi], y_ranges (optional, one per frame),
 *         controls: [{name, labels, widget, initial}],
 *         names: [line name, ...],
 *         frames: [[{line: index into names, x: [...], y: [...]}, ...], ...]}  (row-major)
 */
(function (ui) {
  "use strict";
  var PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#7F7F7F"];
  var W = 640, H = 330, M = { left: 66, right: 18, top: 14, bottom: 48 };

  ui.register("line_grid", function (root, data, ui) {
    var state = data.controls.map(function (spec) { return spec.initial; });
    var chart = ui.svg("svg", { class: "s2sv-chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": data.title });
    var legend = ui.el("div", { class: "s2sv-legend" });
    root.appendChild(ui.controlBar(data.controls, state, draw));
    root.appendChild(chart);
    root.appendChild(legend);
    var t = data.log_y ? Math.log10 : function (v) { return v; };

    function draw() {
      ui.clear(chart);
      ui.clear(legend);
      var index = ui.flatIndex(data.controls, state), lines = data.frames[index];
      var range = data.y_ranges ? data.y_ranges[index] : data.y_range;
      var xs = [].concat.apply([], lines.map(function (line) { return line.x; }));
      var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
      if (x1 === x0) { x0 -= 1; x1 += 1; }
      var yTicks = data.log_y ? ui.logTicks(range[0], range[1]) : ui.ticks(range[0], range[1], 6);
      var y0 = yTicks[0], y1 = yTicks[yTicks.length - 1];
      var xTicks = ui.ticks(x0, x1, 8).filter(function (v) { return v >= x0 && v <= x1; });
      function sx(x) { return M.left + (x - x0) / (x1 - x0) * (W - M.left - M.right); }
      function sy(y) { return H - M.bottom - (t(y) - t(y0)) / (t(y1) - t(y0)) * (H - M.top - M.bottom); }

      yTicks.forEach(function (v) {
        chart.appendChild(ui.svg("line", { class: "s2sv-grid", x1: M.left, x2: W - M.right, y1: sy(v), y2: sy(v) }));
        chart.appendChild(ui.svg("text", { class: "s2sv-tick", x: M.left - 6, y: sy(v) + 4, "text-anchor": "end" }, data.log_y ? ui.fmtPow10(v) : ui.fmt(v)));
      });
      xTicks.forEach(function (v) {
        chart.appendChild(ui.svg("line", { class: "s2sv-axis", x1: sx(v), x2: sx(v), y1: H - M.bottom, y2: H - M.bottom + 5 }));
        chart.appendChild(ui.svg("text", { class: "s2sv-tick", x: sx(v), y: H - M.bottom + 18, "text-anchor": "middle" }, ui.fmt(v)));
      });
      chart.appendChild(ui.svg("line", { class: "s2sv-axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
      chart.appendChild(ui.svg("line", { class: "s2sv-axis", x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
      chart.appendChild(ui.svg("text", { class: "s2sv-axis-label", x: (M.left + W - M.right) / 2, y: H - 8, "text-anchor": "middle" }, data.x_label));
      var yMid = (M.top + H - M.bottom) / 2;
      chart.appendChild(ui.svg("text", { class: "s2sv-axis-label", x: 16, y: yMid, "text-anchor": "middle", transform: "rotate(-90 16 " + yMid + ")" }, data.y_label));

      lines.forEach(function (line) {
        var color = PALETTE[line.line % PALETTE.length], name = data.names[line.line];
        var d = line.x.map(function (x, i) { return (i ? "L" : "M") + sx(x).toFixed(1) + "," + sy(line.y[i]).toFixed(1); }).join("");
        var path = ui.svg("path", { class: "s2sv-line", d: d, stroke: color, "data-name": name });
        path.appendChild(ui.svg("title", {}, name));
        chart.appendChild(path);
        if (line.x.length <= 40) { // markers with the exact value on hover
          line.x.forEach(function (x, i) {
            var dot = ui.svg("circle", { class: "s2sv-dot", cx: sx(x).toFixed(1), cy: sy(line.y[i]).toFixed(1), r: 2.5, fill: color });
            dot.appendChild(ui.svg("title", {}, name + ": x = " + ui.fmt(x) + ", y = " + ui.fmt(line.y[i])));
            chart.appendChild(dot);
          });
        }
        var item = ui.el("span", { class: "s2sv-legend-item" });
        var swatch = ui.el("span", { class: "s2sv-swatch" });
        swatch.style.background = color;
        item.appendChild(swatch);
        item.appendChild(ui.el("span", {}, name));
        legend.appendChild(item);
      });
    }
    draw();
  });
})(window.s2sViews);
