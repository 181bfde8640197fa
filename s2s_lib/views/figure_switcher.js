/* figure_switcher: precomputed PNG figures switched by controls (s2s_lib.views.figure_switcher).
 * data = {title, controls: [{name, labels, widget, initial}], frames: ["data:image/png;base64,...", ...]}
 */
(function (ui) {
  "use strict";
  ui.register("figure_switcher", function (root, data, ui) {
    var state = data.controls.map(function (spec) { return spec.initial; });
    var img = ui.el("img", { class: "s2sv-figure" });
    root.appendChild(ui.controlBar(data.controls, state, draw));
    root.appendChild(img);

    function draw() {
      img.src = data.frames[ui.flatIndex(data.controls, state)];
      img.alt = data.title + " (" + data.controls.map(function (spec, k) { return spec.name + " = " + spec.labels[state[k]]; }).join(", ") + ")";
    }
    draw();
  });
})(window.s2sViews);
