// WormFS web UI: the little script the pages need beyond htmx.
// - draws every [data-chart] element as a uPlot sparkline from its data-series JSON
//   ([[times...], [values...]]), again after each htmx swap of a live region;
// - asks before a form marked data-confirm is posted.
// No inline scripts anywhere: the pages' Content-Security-Policy allows only 'self'.
(function () {
  "use strict";

  function draw(el) {
    var data;
    try {
      data = JSON.parse(el.getAttribute("data-series"));
    } catch (e) {
      console.warn("chart data unreadable", e);
      return;
    }
    el.textContent = "";
    if (!data || data[0].length < 2) {
      el.textContent = "collecting samples…";
      return;
    }
    var width = Math.max(160, el.clientWidth || 320);
    new uPlot({
      width: width,
      height: 60,
      padding: [6, 4, 6, 4],  // room for a zero line at the bottom edge
      legend: { show: false },
      cursor: { show: false },
      // From 0, so a backlog of zero is a flat line at the bottom, not a line mid-chart.
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } },
      },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: "#0172ad", fill: "rgba(1, 114, 173, 0.15)", width: 2, points: { show: false } }],
    }, data, el);
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { drawAll(ev.target); });
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      ev.preventDefault();
    }
  });
})();
