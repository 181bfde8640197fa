/* attention_explorer: attention weights as a heatmap, target words (rows) x source words
 * (columns), with a sentence picker and a score-function toggle (s2s_lib.views.attention_explorer).
 * data = {title, scores: [score name, ...], initial_score,
 *         items: [{name, src: [...], tgt: [...], weights: [T x S matrix per score]}, ...]}
 * Hovering (or focusing) a target row draws that row's weights as bars under the source words.
 */
(function (ui) {
  "use strict";
  ui.register("attention_explorer", function (root, data, ui) {
    var state = [0, data.initial_score];
    var controls = [
      { name: "sentence", labels: data.items.map(function (item) { return item.name; }), widget: "select" },
      { name: "score function", labels: data.scores, widget: "buttons" },
    ];
    var table = ui.el("table", { class: "s2sv-heatmap" });
    var caption = ui.el("div", { class: "s2sv-caption", "aria-live": "polite" });
    var scroller = ui.el("div", { class: "s2sv-scroll" });
    scroller.appendChild(table);
    root.appendChild(ui.controlBar(controls, state, draw));
    root.appendChild(scroller);
    root.appendChild(caption);

    function draw() {
      var item = data.items[state[0]], weights = item.weights[state[1]];
      var rows = [], bars = [];
      ui.clear(table);
      var head = ui.el("tr", {});
      head.appendChild(ui.el("th", { class: "s2sv-corner" }, "target \u2193 / source \u2192"));
      item.src.forEach(function (token) { head.appendChild(ui.el("th", { class: "s2sv-src", scope: "col" }, token)); });
      table.appendChild(ui.el("thead", {})).appendChild(head);
      var body = table.appendChild(ui.el("tbody", {}));
      item.tgt.forEach(function (token, t) {
        var row = ui.el("tr", { class: "s2sv-row", tabindex: 0 });
        row.appendChild(ui.el("th", { class: "s2sv-tgt", scope: "row" }, token));
        weights[t].forEach(function (w, s) {
          var cell = ui.el("td", { class: "s2sv-cell", title: token + " \u2192 " + item.src[s] + ": " + w.toFixed(3) }, w.toFixed(2));
          cell.style.background = "rgba(0, 114, 178, " + Math.min(1, Math.max(0, w)).toFixed(3) + ")";
          if (w > 0.55) cell.className += " s2sv-cell-dark";
          row.appendChild(cell);
        });
        row.addEventListener("mouseenter", function () { highlight(t); });
        row.addEventListener("focus", function () { highlight(t); });
        body.appendChild(row);
        rows.push(row);
      });
      var foot = ui.el("tr", { class: "s2sv-foot" });
      foot.appendChild(ui.el("th", { class: "s2sv-corner" }, "weights"));
      item.src.forEach(function () {
        var cell = ui.el("td", { class: "s2sv-bar-cell" });
        var box = cell.appendChild(ui.el("div", { class: "s2sv-vbar-box" }));
        var bar = box.appendChild(ui.el("div", { class: "s2sv-vbar" }));
        var value = cell.appendChild(ui.el("div", { class: "s2sv-vbar-value" }, ""));
        bars.push([bar, value]);
        foot.appendChild(cell);
      });
      table.appendChild(ui.el("tfoot", {})).appendChild(foot);
      table.onmouseleave = function () { highlight(-1); };

      function highlight(t) {
        rows.forEach(function (row, i) { row.classList.toggle("s2sv-active", i === t); });
        bars.forEach(function (pair, s) {
          var w = t < 0 ? 0 : weights[t][s];
          pair[0].style.height = (100 * Math.min(1, w)).toFixed(1) + "%";
          pair[1].textContent = t < 0 ? "" : w.toFixed(2);
        });
        if (t < 0) {
          caption.textContent = "Hover over (or tab to) a target word to see which source words it attends to.";
        } else {
          var best = weights[t].indexOf(Math.max.apply(null, weights[t]));
          caption.textContent = "\u201c" + item.tgt[t] + "\u201d attends most to \u201c" + item.src[best] + "\u201d (" + weights[t][best].toFixed(2) + ").";
        }
      }
      highlight(-1);
    }
    draw();
  });
})(window.s2sViews);
