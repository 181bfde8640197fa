/* s2s_lib views: the shared runtime (see s2s_lib/views/core.py).
 *
 * Every view fragment inlines this file, the renderer of its kind and one boot call, so a
 * fragment works on its own: in Jupyter, JupyterLab, Colab and VS Code (where an output may
 * live in its own iframe) and in the static book, with no network access at all.
 * The runtime is defined once per page as window.s2sViews; a fragment carrying the same
 * version reuses it (Python stamps a hash of the asset files into VERSION).
 * User text is only ever set with textContent / setAttribute, never as markup.
 */
(function () {
  "use strict";
  var VERSION = "__S2SV_VERSION__";
  var existing = window.s2sViews;
  if (existing && existing.version === VERSION) return;

  // The SVG namespace, taken from the HTML parser so that the fragment holds no URL.
  var probe = document.createElement("div");
  probe.innerHTML = "<svg></svg>"; // constant markup, never user text
  var SVG_NS = probe.firstChild.namespaceURI;
  var renderers = {};

  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (key) {
      if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, String(attrs[key]));
    });
    return node;
  }

  /** An HTML element with attributes and (optional) plain text. */
  function el(tag, attrs, text) {
    var node = setAttrs(document.createElement(tag), attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** An SVG element with attributes and (optional) plain text. */
  function svg(tag, attrs, text) {
    var node = setAttrs(document.createElementNS(SVG_NS, tag), attrs);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /**
   * One control over a list of labelled choices. spec = {name, labels, widget} with widget
   * "slider" (range input + current value), "select" or "buttons" (a toggle group).
   * onChange(index) runs after every change. Returns the control's element.
   */
  function control(spec, index, onChange) {
    var wrap = el("div", { class: "s2sv-control" });
    var name = el("span", { class: "s2sv-control-name" }, spec.name);
    if (spec.labels.length < 2) {
      wrap.appendChild(name);
      wrap.appendChild(el("span", { class: "s2sv-control-value" }, spec.labels[0]));
      return wrap;
    }
    if (spec.widget === "buttons") {
      var group = el("div", { class: "s2sv-buttons", role: "group", "aria-label": spec.name });
      var buttons = spec.labels.map(function (text, i) {
        var button = el("button", { type: "button", class: "s2sv-button" }, text);
        button.setAttribute("aria-pressed", i === index ? "true" : "false");
        button.addEventListener("click", function () {
          buttons.forEach(function (other, j) { other.setAttribute("aria-pressed", j === i ? "true" : "false"); });
          onChange(i);
        });
        group.appendChild(button);
        return button;
      });
      wrap.appendChild(name);
      wrap.appendChild(group);
      return wrap;
    }
    var label = el("label", { class: "s2sv-control-label" });
    label.appendChild(name);
    if (spec.widget === "slider") {
      var last = spec.labels.length - 1;
      var input = el("input", { type: "range", min: 0, max: last, step: 1, value: index });
      var shown = el("output", { class: "s2sv-control-value" }, spec.labels[index]);
      input.setAttribute("aria-valuetext", spec.labels[index]);
      input.addEventListener("input", function () {
        var i = Number(input.value);
        shown.textContent = spec.labels[i];
        input.setAttribute("aria-valuetext", spec.labels[i]);
        onChange(i);
      });
      label.appendChild(input);
      label.appendChild(shown);
    } else {
      var select = el("select", {});
      spec.labels.forEach(function (text, i) {
        var option = el("option", { value: i }, text);
        option.selected = i === index;
        select.appendChild(option);
      });
      select.addEventListener("change", function () { onChange(Number(select.value)); });
      label.appendChild(select);
    }
    wrap.appendChild(label);
    return wrap;
  }

  /** A row of controls; state[k] is the chosen index of controls[k] (updated in place). */
  function controlBar(controls, state, onChange) {
    var bar = el("div", { class: "s2sv-controls" });
    controls.forEach(function (spec, k) {
      bar.appendChild(control(spec, state[k], function (i) { state[k] = i; onChange(); }));
    });
    return bar;
  }

  /** Index into a row-major list of frames (Python's itertools.product order). */
  function flatIndex(controls, state) {
    return controls.reduce(function (acc, spec, k) { return acc * spec.labels.length + state[k]; }, 0);
  }

  /** About `count` round tick values covering [lo, hi] (the ends are rounded outwards). */
  function ticks(lo, hi, count) {
    if (!(hi > lo)) { var pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
    var raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return s >= raw; });
    var out = [];
    for (var v = Math.floor(lo / step) * step; v < hi + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  /** Powers of ten covering [lo, hi] (both > 0), at most about 7, at multiples of the step. */
  function logTicks(lo, hi) {
    var e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
    if (e1 === e0) e1 += 1;
    var step = Math.ceil((e1 - e0) / 6), out = [];
    for (var e = Math.floor(e0 / step) * step; ; e += step) {
      out.push(Math.pow(10, e));
      if (e >= e1) return out;
    }
  }

  /** A short label for a number: 0.25, 12, 3.5e-4, 1.2e+6. */
  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e-", "e\u2212");
    return String(Number(v.toPrecision(3)));
  }

  /** 10 to a power as a label with superscripts: 0.001 -> "10⁻³". */
  function fmtPow10(v) {
    var sup = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079";
    return "10" + String(Math.round(Math.log10(v))).replace(/[-0-9]/g, function (c) {
      return c === "-" ? "\u207b" : sup[Number(c)];
    });
  }

  function register(kind, render) {
    if (!renderers[kind]) renderers[kind] = render;
  }

  /**
   * Render the view in container `id` once. `script` is the inline script that called us;
   * where the output is not yet attached to the document (JupyterLab renders outputs before
   * attaching them) its parent is the container, and otherwise we retry for a few seconds.
   */
  function boot(id, script, tries) {
    var root = document.getElementById(id) || (script && script.parentNode && script.parentNode.id === id ? script.parentNode : null);
    if (!root) {
      if ((tries || 0) < 50) setTimeout(function () { boot(id, script, (tries || 0) + 1); }, 100);
      return;
    }
    if (root.getAttribute("data-s2s-rendered")) return; // idempotent: re-runs do nothing
    var kind = root.getAttribute("data-s2s-kind");
    try {
      var render = renderers[kind];
      if (!render) throw new Error("no renderer for view kind " + JSON.stringify(kind));
      var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
      var body = el("div", { class: "s2sv-body" });
      if (data.title) body.appendChild(el("div", { class: "s2sv-title" }, data.title));
      render(body, data, api);
      var fallback = root.querySelector(".s2sv-fallback");
      if (fallback) root.removeChild(fallback);
      root.appendChild(body);
      root.setAttribute("data-s2s-rendered", "1");
    } catch (err) {
      root.setAttribute("data-s2s-rendered", "error");
      root.appendChild(el("div", { class: "s2sv-error" }, "This view could not be drawn: " + err));
      console.error("s2s view " + id + " (" + kind + ") failed:", err);
    }
  }

  var api = {
    version: VERSION, register: register, boot: boot, el: el, svg: svg, clear: clear,
    control: control, controlBar: controlBar, flatIndex: flatIndex,
    ticks: ticks, logTicks: logTicks, fmt: fmt, fmtPow10: fmtPow10,
  };
  window.s2sViews = api;
})();
