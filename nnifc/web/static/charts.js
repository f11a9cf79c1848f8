// The plots, drawn with the plotly.js that ships in the `plotly` Python package. WebGL traces
// (scattergl, parcoords) keep thousands of points fast; the server already thinned the data.
"use strict";
(function () {
  const { el, plotText, number } = NNIFC;
  const CONFIG = { displaylogo: false, responsive: true };
  const STATUS_COLOURS = { SUCCEEDED: "#2a9d4a", FAILED: "#d03b3b", RUNNING: "#1f77b4", WAITING: "#999", EARLY_STOPPED: "#d9a400", USER_CANCELED: "#a0a", SYS_CANCELED: "#a0a" };

  function layout(title, extra) {
    return Object.assign({ title: { text: title }, margin: { l: 60, r: 20, t: 40, b: 50 }, hovermode: "closest", uirevision: "keep" }, extra);
  }

  // plotly.js is 4.8 MB: the server's pages load it when the first plot is drawn
  let loading = null;
  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    loading = loading || new Promise((resolve, reject) => {
      const script = el("script", { src: "static/plotly.min.js" });
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => reject(new Error("plotly.js did not load"));
      document.head.append(script);
    });
    return loading;
  }

  async function draw(node, data, lay) {
    await (await plotly()).react(node, data, lay, CONFIG);
    node.dataset.ready = String(Date.now());
  }

  function note(doc, what) {
    return doc.shown < doc.total ? `${doc.shown} of ${doc.total} ${what} shown (thinned evenly on the server)` : `${doc.total} ${what}`;
  }

  // Intermediate results of many trials on one chart: highlight one (click a line, or type its
  // id), hide lines (click the legend; double-click: only that one), log scale.
  class Curves {
    constructor(container, expId, onTop) {
      this.expId = expId;
      this.highlight = "";
      this.plot = el("div", { id: "chart-curves", class: "chart" });
      this.caption = el("p", { class: "note" });
      this.log = el("input", { id: "curves-log", type: "checkbox", on: { change: () => this.redraw() } });
      this.top = el("input", { id: "curves-top", type: "number", min: "0", max: "500", value: "50", on: { change: () => onTop() } });
      this.pick = el("input", { id: "curves-highlight", type: "search", placeholder: "trial id", on: { input: (e) => { this.highlight = e.target.value.trim(); this.redraw(); } } });
      const hideOthers = el("button", { type: "button", id: "curves-only-selected", text: "only selected", on: { click: () => this.onlySelected() } });
      const showAll = el("button", { type: "button", text: "show all", on: { click: () => this.showAll() } });
      container.replaceChildren(el("div", { class: "controls" }, el("label", {}, "best ", this.top, " trials"),
        el("label", {}, this.log, " log scale"), el("label", {}, "highlight ", this.pick), hideOthers, showAll), this.plot, this.caption);
    }

    query() {
      return { top: this.top.value || "50", ids: [...NNIFC.selection].join(",") };
    }

    async update(doc) {
      this.doc = doc;
      this.caption.textContent = note(doc, "trials with intermediate results") + (NNIFC.embedded ? "; the report holds the best " + doc.top : "");
      await this.redraw();
      if (!this.clicks) {
        this.clicks = true;
        this.plot.on("plotly_click", (event) => {
          const id = event.points[0].data.meta;
          this.highlight = this.highlight === id ? "" : id;
          this.pick.value = this.highlight;
          this.redraw();
        });
      }
    }

    redraw() {
      const doc = this.doc;
      if (!doc) return Promise.resolve();
      const focus = new Set(NNIFC.selection);
      if (this.highlight) focus.add(this.highlight);
      const previous = Object.fromEntries((this.plot.data || []).map((t) => [t.meta, t.visible]));
      const traces = doc.series.map((s) => ({
        type: "scatter", mode: "lines+markers", meta: s.id, name: plotText(`#${s.sequence} ${s.id}`),
        x: s.x, y: s.y, visible: previous[s.id] === undefined ? true : previous[s.id],
        opacity: focus.size && !focus.has(s.id) ? 0.15 : 1,
        line: { width: focus.has(s.id) ? 4 : 1.5 }, marker: { size: 4 },
        hovertemplate: plotText(`trial ${s.id} (${s.status})`) + "<br>step %{x}: %{y}<extra></extra>",
      }));
      return draw(this.plot, traces, layout("Intermediate results", {
        xaxis: { title: { text: "step" } }, yaxis: { title: { text: "metric" }, type: this.log.checked ? "log" : "linear" },
      }));
    }

    onlySelected() {
      const keep = new Set(NNIFC.selection);
      if (this.highlight) keep.add(this.highlight);
      if (!keep.size || !this.plot.data) return;
      Plotly.restyle(this.plot, { visible: this.plot.data.map((t) => (keep.has(t.meta) ? true : "legendonly")) });
    }

    showAll() {
      if (this.plot.data) Plotly.restyle(this.plot, { visible: true });
    }
  }

  function history(node, doc) {
    const text = doc.ids.map((id) => plotText(id));
    return draw(node, [
      { type: "scatter", mode: "markers", name: "final result", x: doc.x, y: doc.y, text, marker: { size: 5, color: "#1f77b4" }, hovertemplate: "trial %{text} #%{x}: %{y}<extra></extra>" },
      { type: "scatter", mode: "lines", name: "best so far", x: doc.x, y: doc.best, line: { color: "#d62728", width: 2, shape: "hv" }, hoverinfo: "skip" },
    ], layout(`Optimisation history (${doc.optimizeMode})`, { xaxis: { title: { text: "trial #" } }, yaxis: { title: { text: "final result" } } }));
  }

  // Parallel coordinates in SVG (plotly's parcoords needs WebGL, seconds to start without a
  // GPU): every axis scaled to 0..1, lines grouped in colour bands of the final result.
  const BANDS = 8, VIRIDIS = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];

  function scaled(axis) {
    if (axis.categories) {
      const top = Math.max(1, axis.categories.length - 1);
      return { y: axis.values.map((v) => v / top), ticks: axis.categories.map((c, i) => [i / top, c]) };
    }
    const known = axis.values.filter((v) => typeof v === "number");
    const low = Math.min(...known), high = Math.max(...known), span = high - low || 1;
    return { y: axis.values.map((v) => (typeof v === "number" ? (v - low) / span : null)), ticks: [[0, number(low)], [1, number(high)]] };
  }

  function parallel(node, doc) {
    const axes = doc.axes.concat([{ name: "final result", values: doc.metric }]).map((a) => Object.assign({ name: a.name }, scaled(a)));
    const metric = axes[axes.length - 1].y;
    const bands = Array.from({ length: BANDS }, () => ({ x: [], y: [], text: [] }));
    doc.ids.forEach((id, line) => {
      const band = bands[Math.min(BANDS - 1, Math.floor((metric[line] ?? 0) * BANDS))];
      axes.forEach((axis, i) => { band.x.push(i); band.y.push(axis.y[line]); band.text.push(id); });
      band.x.push(null); band.y.push(null); band.text.push("");
    });
    const traces = bands.map((band, i) => ({
      type: "scatter", mode: "lines", x: band.x, y: band.y, text: band.text, showlegend: false,
      line: { color: VIRIDIS[i], width: 1 }, opacity: 0.6, hovertemplate: "trial %{text}<extra></extra>",
    }));
    traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], hoverinfo: "skip", showlegend: false,
      marker: { color: [0], cmin: Math.min(...doc.metric), cmax: Math.max(...doc.metric), colorscale: "Viridis", showscale: true, colorbar: { title: { text: "final" } } } });
    const annotations = [];
    axes.forEach((axis, i) => axis.ticks.forEach(([y, label]) => annotations.push({ x: i, y, text: plotText(label), showarrow: false, xanchor: "right", xshift: -4, font: { size: 10 } })));
    const shapes = axes.map((_, i) => ({ type: "line", x0: i, x1: i, y0: 0, y1: 1, line: { color: "#888", width: 1 } }));
    return draw(node, traces, layout("Hyperparameters, coloured by the final result", {
      xaxis: { tickvals: axes.map((_, i) => i), ticktext: axes.map((a) => plotText(a.name)), side: "top", range: [-0.5, axes.length - 0.5], showgrid: false, zeroline: false },
      yaxis: { visible: false, range: [-0.05, 1.05] }, shapes, annotations, hovermode: "closest",
    }));
  }

  function durationPlot(node, doc) {
    const byStatus = {};
    doc.status.forEach((status, i) => { (byStatus[status] = byStatus[status] || []).push(i); });
    const traces = Object.entries(byStatus).map(([status, rows]) => ({
      type: "scatter", mode: "markers", name: status, marker: { color: STATUS_COLOURS[status] || "#555", size: 5 },
      x: rows.map((i) => doc.sequence[i]), y: rows.map((i) => doc.duration[i]), text: rows.map((i) => plotText(doc.ids[i])),
      hovertemplate: "trial %{text} #%{x}: %{y}s<extra></extra>",
    }));
    return draw(node, traces, layout("Trial duration", { xaxis: { title: { text: "trial #" } }, yaxis: { title: { text: "seconds" } } }));
  }

  function timeline(node, doc) {
    const x = [], y = [];
    doc.start.forEach((start, i) => { x.push(start - doc.experimentStarted, doc.end[i] - doc.experimentStarted, null); y.push(doc.sequence[i], doc.sequence[i], null); });
    return draw(node, [{ type: "scatter", mode: "lines", name: "running", x, y, line: { width: 3, color: "#1f77b4" }, hovertemplate: "#%{y} at %{x:.0f}s<extra></extra>" }],
      layout("Timeline", { xaxis: { title: { text: "seconds since the experiment started" } }, yaxis: { title: { text: "trial #" } } }));
  }

  function importance(node, doc) {
    const params = doc.params.slice().reverse();
    return draw(node, [{ type: "bar", orientation: "h", x: params.map((p) => p.importance), y: params.map((p) => plotText(p.name)), marker: { color: "#1f77b4" } }],
      layout("Parameter importance", { xaxis: { title: { text: "share of the error growth" }, range: [0, 1] }, margin: { l: 160, r: 20, t: 40, b: 50 } }));
  }

  NNIFC.charts = { Curves, history, parallel, durationPlot, timeline, importance, note, number };
})();
