/* stepper: step through greedy decoding, sampling and beam search one token at a time
 * (s2s_lib.views.decode_stepper).
 * data = {title, strategies: [name, ...],
 *         items: [{name, src: [source token, ...], frames: [frame per strategy]}]}
 * frame (greedy / sampling) = {beam: false, text, finished, steps: [{input, prefix: [...],
 *         bars: [[token, prob], ...], chosen, rank, chosen_prob, attention: [...] | null}]}
 * frame (beam search) = {beam: true, text, finished, steps: [{stopped,
 *         hyps: [{prefix, score, input, bars, attention}],      (the live hypotheses)
 *         cands: [{hyp, token, score, norm, status}]}]}         (kept / finished / pruned)
 */
(function (ui) {
  "use strict";
  var COLORS = { kept: "#0072B2", finished: "#009E73", pruned: "#777777" };

  function words(tokens) {
    return tokens.length ? tokens.join(" ") : "(nothing yet)";
  }

  ui.register("stepper", function (root, data, ui) {
    var state = { item: 0, strategy: 0, step: 0, hyp: 0 };
    var bar = ui.el("div", { class: "s2sv-controls" });
    var sentence = ui.control({ name: "sentence", labels: data.items.map(function (it) { return it.name; }), widget: "select" },
      0, function (i) { state.item = i; reset(); });
    var strategy = ui.control({ name: "strategy", labels: data.strategies, widget: "select" },
      0, function (i) { state.strategy = i; reset(); });
    var prev = ui.el("button", { type: "button", class: "s2sv-button s2sv-prev", "aria-label": "previous step" }, "\u25c0");
    var slider = ui.el("input", { type: "range", min: 0, max: 0, step: 1, value: 0, class: "s2sv-step-slider", "aria-label": "step" });
    var next = ui.el("button", { type: "button", class: "s2sv-button s2sv-next", "aria-label": "next step" }, "\u25b6");
    var label = ui.el("output", { class: "s2sv-control-value s2sv-step-label", "aria-live": "polite" });
    var stepBox = ui.el("div", { class: "s2sv-control" });
    [prev, slider, next, label].forEach(function (node) { stepBox.appendChild(node); });
    [sentence, strategy, stepBox].forEach(function (node) { bar.appendChild(node); });
    var view = ui.el("div", { class: "s2sv-stepper" });
    root.appendChild(bar);
    root.appendChild(view);

    prev.addEventListener("click", function () { go(state.step - 1); });
    next.addEventListener("click", function () { go(state.step + 1); });
    slider.addEventListener("input", function () { go(Number(slider.value)); });

    function frame() { return data.items[state.item].frames[state.strategy]; }

    function reset() {
      state.step = 0;
      state.hyp = 0;
      slider.max = String(frame().steps.length - 1);
      draw();
    }

    function go(step) {
      var last = frame().steps.length - 1;
      state.step = Math.max(0, Math.min(last, step));
      state.hyp = 0;
      draw();
    }

    function section(title) {
      var box = ui.el("div", { style: "margin-top: 8px" });
      box.appendChild(ui.el("div", { class: "s2sv-control-name", style: "font-size: 12px" }, title));
      view.appendChild(box);
      return box;
    }

    function chip(text, color, weight) {
      var node = ui.el("span", { class: "s2sv-token" }, text);
      node.style.cssText = "display: inline-block; margin: 2px 3px 2px 0; padding: 1px 6px; border-radius: 3px;" +
        "border: 1px solid " + (color || "rgba(127, 127, 127, 0.5)") + ";";
      if (weight !== undefined && weight !== null) {
        node.style.background = "rgba(230, 159, 0, " + Math.min(1, weight).toFixed(3) + ")";
        node.title = text + ": attention " + weight.toFixed(3);
      }
      return node;
    }

    function drawSource(src, attention) {
      var box = section(attention ? "Korean source, shaded by the attention of this step" : "Korean source (this model has no attention)");
      var row = box.appendChild(ui.el("div", { class: "s2sv-src-row" }));
      src.forEach(function (token, s) {
        var cell = ui.el("span", { style: "display: inline-flex; flex-direction: column; align-items: center" });
        cell.appendChild(chip(token, null, attention ? attention[s] : null));
        if (attention) cell.appendChild(ui.el("span", { style: "font-size: 10px; opacity: 0.7" }, attention[s].toFixed(2)));
        row.appendChild(cell);
      });
    }

    /** Bars; highlight[k] colours bar k (others: the default fill, or `rest` if given). */
    function drawBars(box, bars, highlight, rest) {
      var list = box.appendChild(ui.el("div", { class: "s2sv-bars" }));
      list.appendChild(ui.el("span", { class: "s2sv-bar-head s2sv-bar-label" }, "next token"));
      list.appendChild(ui.el("span", { class: "s2sv-bar-head" }));
      list.appendChild(ui.el("span", { class: "s2sv-bar-head s2sv-bar-value" }, "probability"));
      bars.forEach(function (pair, k) {
        var row = ui.el("div", { class: "s2sv-bar-row" });
        var track = ui.el("span", { class: "s2sv-bar-track" });
        var fill = ui.el("span", { class: "s2sv-bar-fill" });
        fill.style.width = (100 * pair[1]).toFixed(2) + "%";
        if (highlight[k] || rest) fill.style.background = highlight[k] || rest;
        track.appendChild(fill);
        var name = ui.el("span", { class: "s2sv-bar-label" }, pair[0]);
        if (highlight[k]) name.style.fontWeight = "700";
        row.appendChild(name);
        row.appendChild(track);
        row.appendChild(ui.el("span", { class: "s2sv-bar-value" }, pair[1].toFixed(3)));
        list.appendChild(row);
      });
    }

    function drawSingle(item, f, s) {
      drawSource(item.src, s.attention);
      var io = section("Decoder input and output so far");
      io.appendChild(chip(s.input, "#0072B2"));
      io.appendChild(ui.el("span", { style: "opacity: 0.7" }, " after: " + words(s.prefix)));
      var box = section("Top next-token probabilities (the chosen token in orange)");
      var highlight = {};
      if (s.rank >= 0) highlight[s.rank] = "#E69F00";
      drawBars(box, s.bars, highlight);
      box.appendChild(ui.el("div", { class: "s2sv-caption s2sv-chosen" },
        "chosen: \u201c" + s.chosen + "\u201d (p = " + s.chosen_prob.toFixed(3) + ")" +
        (s.rank < 0 ? ", outside the top " + s.bars.length : "")));
    }

    function drawBeam(item, f, s) {
      var hyp = s.hyps[Math.min(state.hyp, s.hyps.length - 1)];
      drawSource(item.src, hyp.attention);
      var list = section("Live hypotheses before this step (raw log-probability); pick one to see its next-token bars");
      var group = list.appendChild(ui.el("div", { class: "s2sv-hyps", role: "group",
        style: "display: flex; flex-direction: column; gap: 2px; align-items: flex-start" }));
      s.hyps.forEach(function (h, k) {
        var button = ui.el("button", { type: "button", class: "s2sv-button s2sv-hyp" },
          "#" + (k + 1) + "  " + words(h.prefix) + "   [" + h.score.toFixed(2) + "]");
        button.setAttribute("aria-pressed", k === state.hyp ? "true" : "false");
        button.addEventListener("click", function () { state.hyp = k; draw(); });
        group.appendChild(button);
      });
      var box = section("Next-token probabilities of hypothesis #" + (state.hyp + 1) + " (input \u201c" + hyp.input +
        "\u201d); blue: kept, green: finished, dark grey: pruned among the best 2K");
      var highlight = {};
      s.cands.forEach(function (c) {
        if (c.hyp !== state.hyp) return;
        hyp.bars.forEach(function (pair, k) { if (pair[0] === c.token) highlight[k] = COLORS[c.status]; });
      });
      drawBars(box, hyp.bars, highlight, "rgba(127, 127, 127, 0.3)");
      var table = section("The best 2K extensions of this step").appendChild(ui.el("table", { class: "s2sv-cands" }));
      var head = table.appendChild(ui.el("tr", {}));
      ["from", "hypothesis", "log p", "normalised", "status"].forEach(function (h) {
        head.appendChild(ui.el("th", { style: "text-align: left; padding: 1px 8px; font-weight: 600; font-size: 12px" }, h));
      });
      s.cands.forEach(function (c) {
        var row = table.appendChild(ui.el("tr", { class: "s2sv-cand s2sv-cand-" + c.status }));
        var text = words(s.hyps[c.hyp].prefix.concat([c.token]));
        [("#" + (c.hyp + 1)), text, c.score.toFixed(2), c.status === "finished" ? c.norm.toFixed(3) : "", c.status].forEach(function (v, k) {
          var cell = row.appendChild(ui.el("td", { style: "padding: 1px 8px" }, v));
          if (k === 4) { cell.style.color = COLORS[c.status]; cell.style.fontWeight = "600"; }
          if (c.status === "pruned") cell.style.opacity = "0.6";
        });
      });
      if (s.stopped) {
        section("").appendChild(ui.el("div", { class: "s2sv-caption" },
          "Search stopped: no live hypothesis can beat the finished ones any more."));
      }
    }

    function draw() {
      var item = data.items[state.item], f = frame(), s = f.steps[state.step];
      slider.value = String(state.step);
      label.textContent = "step " + (state.step + 1) + " / " + f.steps.length;
      prev.disabled = state.step === 0;
      next.disabled = state.step === f.steps.length - 1;
      ui.clear(view);
      if (f.beam) drawBeam(item, f, s); else drawSingle(item, f, s);
      if (state.step === f.steps.length - 1) {
        section("Result").appendChild(ui.el("div", { class: "s2sv-result" },
          "\u201c" + f.text + "\u201d" + (f.finished ? "" : " (cut off at the maximum length)")));
      }
    }
    reset();
  });
})(window.s2sViews);
