// SPDX-License-Identifier: MIT
// The interactive charts of the alloy HTML report (zoom with the mouse, values under the cursor),
// drawn with uPlot from the data the report embeds as JSON. Names are set as text by uPlot
// (textContent), never as HTML. Without script the SVG charts in <noscript> show instead.
(function () {
  "use strict";
  var el = document.getElementById("alloy-data");
  if (!el || typeof uPlot === "undefined") return;
  var d = JSON.parse(el.textContent);
  var colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  function bytes(u, vals) {
    return vals.map(function (v) {
      var k = 0;
      while (Math.abs(v) >= 1024 && k < 4) { v /= 1024; k++; }
      return (k ? v.toFixed(1) : v.toFixed(0)) + " " + ["B", "KiB", "MiB", "GiB", "TiB"][k];
    });
  }
  function width(node) { return Math.max(300, node.clientWidth - 10); }
  function chart(id, opts, data) {
    var node = document.getElementById(id);
    if (!node) return;
    opts.width = width(node);
    opts.height = 220;
    node.setAttribute("data-drawn", "1");
    new uPlot(opts, data, node);
  }
  if (d.timeline && d.timeline.t.length > 1) {
    chart("u-timeline", {
      scales: { x: { time: false } },
      axes: [{ label: "seconds" }, { values: bytes, size: 70 }],
      series: [{ label: "t (s)" },
               { label: "live bytes", stroke: colours[0], width: 1.5 },
               { label: "RSS", stroke: colours[3], width: 1.5 }]
    }, [d.timeline.t, d.timeline.live, d.timeline.rss]);
  }
  if (d.activity && d.activity.t.length > 1) {
    var series = [{ label: "t (s)" }], data = [d.activity.t];
    d.activity.threads.forEach(function (th, i) {
      series.push({ label: th.name, stroke: colours[i % colours.length], width: 1.2 });
      data.push(th.rate);
    });
    chart("u-activity", {
      scales: { x: { time: false } },
      axes: [{ label: "seconds" }, { label: "allocations/s", size: 70 }],
      series: series
    }, data);
  }
  // Generic charts (alloy bench): {id, x_label, y_label, bytes, x: [...], series: [{label,
  // values: [...]}]}, a missing value as null; points drawn, since a few x values are common.
  (d.charts || []).forEach(function (c) {
    var series = [{ label: c.x_label }], data = [c.x];
    c.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: colours[i % colours.length], width: 1.5,
                    points: { show: true, size: 7 } });
      data.push(s.values);
    });
    var y = { label: c.y_label, size: 80 };
    if (c.bytes) y.values = bytes;
    chart(c.id, { scales: { x: { time: false } }, axes: [{ label: c.x_label }, y],
                  series: series }, data);
  });
})();
