/* prob_bars: horizontal probability bars, one set per control value (s2s_lib.views.prob_bars).
 * data = {title, value_label, max, control: {name, labels, widget, initial},
 *         frames: [[[label, value], ...], ...]}  (one frame per control value)
 */
(function (ui) {
  "use strict";
  ui.register("prob_bars", function (root, data, ui) {
    var state = [data.control.initial];
    var list = ui.el("div", { class: "s2sv-bars" });
    root.appendChild(ui.controlBar([data.control], state, draw));
    root.appendChild(list);

    function draw() {
      ui.clear(list);
      list.appendChild(ui.el("span", { class: "s2sv-bar-head s2sv-bar-label" }, "token"));
      list.appendChild(ui.el("span", { class: "s2sv-bar-head" }));
      list.appendChild(ui.el("span", { class: "s2sv-bar-head s2sv-bar-value" }, data.value_label));
      data.frames[state[0]].forEach(function (bar) {
        var row = ui.el("div", { class: "s2sv-bar-row" });
        var track = ui.el("span", { class: "s2sv-bar-track" });
        var fill = ui.el("span", { class: "s2sv-bar-fill" });
        fill.style.width = (100 * bar[1] / data.max).toFixed(2) + "%";
        track.appendChild(fill);
        row.appendChild(ui.el("span", { class: "s2sv-bar-label" }, bar[0]));
        row.appendChild(track);
        row.appendChild(ui.el("span", { class: "s2sv-bar-value" }, bar[1].toFixed(3)));
        list.appendChild(row);
      });
    }
    draw();
  });
})(window.s2sViews);
