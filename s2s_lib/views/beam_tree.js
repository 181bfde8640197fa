/* beam_tree: the hypotheses of one beam search as a tree, x = decoding step
 * (s2s_lib.views.beam_tree).
 * data = {title, src: [...], text, beam_size, length_penalty, steps,
 *         nodes: [{id, parent, step, token, score, norm, status}], winner: [node id, ...]}
 * status: root | kept (stayed in the beam) | finished (ended with <eos>) | pruned (dropped).
 * Controls: a slider showing the search up to a step, and a toggle for the pruned nodes.
 */
(function (ui) {
  "use strict";
  var COLORS = { root: "currentColor", kept: "#0072B2", finished: "#009E73", pruned: "#999999", win: "#E69F00" };
  var COL = 88, ROW = 24, LEFT = 16, TOP = 14;

  /** A label that fits between two columns (the full token is in the node's tooltip). */
  function short(token) {
    return token.length > 12 ? token.slice(0, 11) + "\u2026" : token;
  }

  ui.register("beam_tree", function (root, data, ui) {
    var nodes = data.nodes, onWinner = {};
    data.winner.forEach(function (id) { onWinner[id] = true; });
    var stepLabels = [];
    for (var s = 1; s <= data.steps; s++) stepLabels.push(String(s));
    var controls = [
      { name: "show steps up to", labels: stepLabels, widget: "slider" },
      { name: "pruned", labels: ["shown", "hidden"], widget: "buttons" },
    ];
    var state = [stepLabels.length - 1, 0];
    var scroller = ui.el("div", { class: "s2sv-scroll" });
    var caption = ui.el("div", { class: "s2sv-caption", "aria-live": "polite" });
    var legend = ui.el("div", { class: "s2sv-legend" });
    root.appendChild(ui.el("div", { class: "s2sv-caption", style: "margin: 0 0 6px 0" },
      "Source: " + data.src.join(" ") + "   \u2192   \u201c" + data.text + "\u201d   (K = " + data.beam_size +
      (data.length_penalty ? ", length penalty " + data.length_penalty : "") + ")"));
    root.appendChild(ui.controlBar(controls, state, draw));
    root.appendChild(scroller);
    root.appendChild(legend);
    root.appendChild(caption);
    [["kept", "kept in the beam"], ["finished", "finished (<eos>)"], ["pruned", "pruned"], ["win", "winning path"]].forEach(function (pair) {
      var item = legend.appendChild(ui.el("span", { class: "s2sv-legend-item" }));
      var swatch = item.appendChild(ui.el("span", { class: "s2sv-swatch" }));
      swatch.style.background = COLORS[pair[0]];
      swatch.style.height = "8px";
      item.appendChild(ui.el("span", {}, pair[1]));
    });

    /** Children lists and y positions (leaves in depth-first order, best candidate first). */
    function layout(showPruned) {
      var children = nodes.map(function () { return []; });
      var shown = nodes.map(function (n) { return showPruned || n.status !== "pruned"; });
      nodes.forEach(function (n) { if (n.parent !== null && shown[n.id]) children[n.parent].push(n.id); });
      var y = {}, next = 0;
      (function place(id) {
        if (!children[id].length) { y[id] = next++; return; }
        children[id].forEach(place);
        y[id] = (y[children[id][0]] + y[children[id][children[id].length - 1]]) / 2;
      })(0);
      return { y: y, rows: next, shown: shown };
    }

    function draw() {
      var upTo = state[0] + 1, showPruned = state[1] === 0;
      var pos = layout(showPruned);
      var width = LEFT + data.steps * COL + 110, height = TOP * 2 + Math.max(1, pos.rows) * ROW;
      var chart = ui.svg("svg", { class: "s2sv-tree", viewBox: "0 0 " + width + " " + height,
        width: width, height: height, role: "img", "aria-label": "beam search tree" });
      function X(n) { return LEFT + n.step * COL; }
      function Y(n) { return TOP + pos.y[n.id] * ROW + ROW / 2; }
      for (var s = 0; s <= data.steps; s++) {
        chart.appendChild(ui.svg("text", { x: LEFT + s * COL, y: 10, "text-anchor": "start", "font-size": 10, opacity: 0.6, fill: "currentColor" },
          s === 0 ? "start" : "step " + s));
      }
      var visible = nodes.filter(function (n) { return pos.shown[n.id] && n.step <= upTo; });
      visible.forEach(function (n) {
        if (n.parent === null) return;
        var p = nodes[n.parent], win = onWinner[n.id] && onWinner[p.id];
        var x0 = X(p), y0 = Y(p), x1 = X(n), y1 = Y(n), mid = (x0 + x1) / 2;
        chart.appendChild(ui.svg("path", {
          class: "s2sv-edge" + (win ? " s2sv-win" : ""),
          d: "M" + x0 + "," + y0 + " C" + mid + "," + y0 + " " + mid + "," + y1 + " " + x1 + "," + y1,
          fill: "none", stroke: win ? COLORS.win : "currentColor", "stroke-width": win ? 3 : 1,
          "stroke-opacity": win ? 1 : 0.3,
        }));
      });
      visible.forEach(function (n) {
        var g = ui.svg("g", { class: "s2sv-node s2sv-node-" + n.status + (onWinner[n.id] ? " s2sv-win" : ""), tabindex: 0 });
        var x = X(n), y = Y(n), color = COLORS[n.status];
        var tip = n.status === "root" ? "<sos> (start)" : n.token + ": log p = " + n.score.toFixed(3) +
          (n.status === "finished" ? ", normalised " + n.norm.toFixed(3) : "") + " (" + n.status + ")";
        g.appendChild(ui.svg("title", {}, tip));
        if (n.status === "finished") {
          g.appendChild(ui.svg("rect", { x: x - 5, y: y - 5, width: 10, height: 10, fill: color,
            stroke: onWinner[n.id] ? COLORS.win : "none", "stroke-width": 2 }));
        } else {
          g.appendChild(ui.svg("circle", { cx: x, cy: y, r: n.status === "pruned" ? 3.5 : 5,
            fill: n.status === "pruned" ? "none" : color, stroke: onWinner[n.id] ? COLORS.win : color,
            "stroke-width": onWinner[n.id] ? 2.5 : 1.2 }));
        }
        var label = ui.svg("text", { x: x + 8, y: y - 2, "font-size": 12, "font-weight": onWinner[n.id] ? 700 : 400, fill: "currentColor",
          opacity: n.status === "pruned" ? 0.55 : 1 }, n.status === "root" ? "<sos>" : short(n.token));
        g.appendChild(label);
        if (n.status !== "root") {
          g.appendChild(ui.svg("text", { x: x + 8, y: y + 10, "font-size": 9, opacity: 0.6, fill: "currentColor" },
            (n.status === "finished" ? n.norm : n.score).toFixed(2)));
        }
        g.addEventListener("mouseenter", function () { caption.textContent = tip; });
        g.addEventListener("focus", function () { caption.textContent = tip; });
        chart.appendChild(g);
      });
      ui.clear(scroller);
      scroller.appendChild(chart);
      var counts = { kept: 0, finished: 0, pruned: 0 };
      nodes.forEach(function (n) { if (n.step <= upTo && counts[n.status] !== undefined) counts[n.status] += 1; });
      caption.textContent = "Steps 1\u2013" + upTo + ": " + counts.kept + " kept, " + counts.finished + " finished, " +
        counts.pruned + " pruned" + (showPruned ? "" : " (hidden)") +
        ". Numbers: log-probability so far (normalised score for finished nodes). Hover a node for details.";
    }
    draw();
  });
})(window.s2sViews);
