// The trials table: sort by any column, filter by status, ranges and text, keep the best N,
// page through the rest, and pick trials to compare. All of it runs on the rows the server
// sent (or the report holds); only one page of rows is in the document at a time.
"use strict";
(function () {
  const { el, number, seconds, statusClass } = NNIFC;
  const PAGE = 50;

  function columns(doc) {
    const fixed = [
      { key: "sequence", label: "#", value: (r) => r.sequence, number: true },
      { key: "id", label: "trial", value: (r) => r.id },
      { key: "status", label: "status", value: (r) => r.status },
      { key: "final", label: "final", value: (r) => r.final, number: true },
      { key: "latest", label: "latest", value: (r) => r.latest, number: true },
      { key: "steps", label: "steps", value: (r) => r.steps, number: true },
      { key: "duration", label: "duration", value: (r) => r.duration, number: true, show: seconds },
    ];
    if (doc.budgets) {
      fixed.push({ key: "budget", label: "budget", value: (r) => r.budget, number: true });
      fixed.push({ key: "rung", label: "rung", value: (r) => r.rung, number: true });
    }
    if (doc.generations) {
      fixed.push({ key: "generation", label: "generation", value: (r) => r.generation, number: true });
    }
    const params = doc.params.map((name) => ({
      key: "p:" + name,
      label: name,
      value: (r) => r.params[name],
      number: doc.rows.every((r) => r.params[name] === undefined || r.params[name] === null || typeof r.params[name] === "number"),
    }));
    return fixed.concat(params, [{ key: "message", label: "message", value: (r) => r.message }]);
  }

  function compare(a, b) {
    const missingA = a === null || a === undefined, missingB = b === null || b === undefined;
    if (missingA || missingB) return missingA - missingB; // missing values last
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b));
  }

  class TrialsTable {
    constructor(container, expId) {
      this.container = container;
      this.expId = expId;
      this.state = { sort: "sequence", descending: false, search: "", statuses: null, ranges: [], top: "", page: 0 };
    }

    update(doc) {
      this.doc = doc;
      this.columns = columns(doc);
      if (!this.form) this.build();
      this.syncControls();
      this.draw();
    }

    build() {
      const s = this.state;
      this.search = el("input", { id: "trial-search", type: "search", placeholder: "search id, status, message, parameters", on: { input: (e) => { s.search = e.target.value; s.page = 0; this.draw(); } } });
      this.top = el("input", { id: "top-n", type: "number", min: "1", placeholder: "all", on: { input: (e) => { s.top = e.target.value; s.page = 0; this.draw(); } } });
      this.statusBox = el("span", { class: "statuses" });
      this.rangeKey = el("select", { id: "range-key" });
      this.rangeMin = el("input", { id: "range-min", type: "number", step: "any", placeholder: "min" });
      this.rangeMax = el("input", { id: "range-max", type: "number", step: "any", placeholder: "max" });
      this.rangeList = el("span", { class: "ranges" });
      const add = el("button", { id: "range-add", type: "button", text: "add range", on: { click: () => this.addRange() } });
      this.compareButton = el("button", { id: "compare", type: "button", text: "compare selected", on: { click: () => this.showComparison() } });
      const clear = el("button", { type: "button", text: "clear selection", on: { click: () => { NNIFC.selection.clear(); this.draw(); this.comparison.replaceChildren(); } } });
      this.form = el("div", { class: "controls" },
        el("label", {}, "search ", this.search), el("label", {}, "best ", this.top, " trials"), this.statusBox,
        el("span", { class: "range" }, this.rangeKey, this.rangeMin, this.rangeMax, add, this.rangeList),
        this.compareButton, clear);
      this.head = el("thead");
      this.body = el("tbody");
      this.pager = el("div", { class: "pager" });
      this.comparison = el("div", { id: "comparison" });
      this.table = el("table", { id: "trials-table", class: "grid" }, this.head, this.body);
      this.container.replaceChildren(this.form, el("div", { class: "scroll" }, this.table), this.pager, this.comparison);
    }

    syncControls() {
      const s = this.state;
      const present = [...new Set(this.doc.rows.map((r) => r.status))].sort();
      if (this.statusBox.dataset.list !== present.join()) {
        this.statusBox.dataset.list = present.join();
        this.statusBox.replaceChildren(...present.map((status) => el("label", { class: statusClass(status) },
          el("input", { type: "checkbox", name: "status", value: status, checked: !s.statuses || s.statuses.has(status),
            on: { change: () => { s.statuses = new Set([...this.statusBox.querySelectorAll("input:checked")].map((i) => i.value)); s.page = 0; this.draw(); } } }),
          status)));
      }
      const numeric = this.columns.filter((c) => c.number);
      if (this.rangeKey.dataset.list !== numeric.map((c) => c.key).join()) {
        this.rangeKey.dataset.list = numeric.map((c) => c.key).join();
        this.rangeKey.replaceChildren(...numeric.map((c) => el("option", { value: c.key, text: c.label })));
        this.rangeKey.value = "final";
      }
    }

    addRange() {
      const min = this.rangeMin.value === "" ? null : Number(this.rangeMin.value);
      const max = this.rangeMax.value === "" ? null : Number(this.rangeMax.value);
      if (min === null && max === null) return;
      this.state.ranges.push({ key: this.rangeKey.value, min, max });
      this.rangeMin.value = this.rangeMax.value = "";
      this.state.page = 0;
      this.draw();
    }

    // the rows that pass every filter, sorted
    rows() {
      const s = this.state, doc = this.doc, byKey = Object.fromEntries(this.columns.map((c) => [c.key, c]));
      let rows = doc.rows;
      if (s.top) {
        const n = Math.max(1, parseInt(s.top, 10) || 1), sign = doc.optimizeMode === "maximize" ? -1 : 1;
        rows = rows.filter((r) => typeof r.final === "number" && (r.status === "SUCCEEDED" || r.status === "EARLY_STOPPED"))
          .sort((a, b) => sign * (a.final - b.final) || a.sequence - b.sequence).slice(0, n);
      }
      if (s.statuses) rows = rows.filter((r) => s.statuses.has(r.status));
      for (const range of s.ranges) {
        const column = byKey[range.key];
        if (!column) continue;
        rows = rows.filter((r) => {
          const v = column.value(r);
          return typeof v === "number" && (range.min === null || v >= range.min) && (range.max === null || v <= range.max);
        });
      }
      if (s.search) {
        const needle = s.search.toLowerCase();
        rows = rows.filter((r) => [r.id, r.status, r.message, JSON.stringify(r.params)].some((t) => String(t).toLowerCase().includes(needle)));
      }
      const column = byKey[s.sort] || byKey.sequence, direction = s.descending ? -1 : 1;
      return rows.slice().sort((a, b) => {
        const va = column.value(a), vb = column.value(b);
        const missing = (va === null || va === undefined) - (vb === null || vb === undefined);
        return missing || direction * compare(va, vb) || a.sequence - b.sequence;
      });
    }

    draw() {
      const s = this.state, rows = this.rows();
      this.shown = rows;
      const pages = Math.max(1, Math.ceil(rows.length / PAGE));
      s.page = Math.min(s.page, pages - 1);
      this.head.replaceChildren(el("tr", {}, el("th", { text: "" }), ...this.columns.map((c) => el("th", {
        dataset: { key: c.key }, class: "sortable" + (s.sort === c.key ? (s.descending ? " desc" : " asc") : ""),
        title: "sort by " + c.label, text: c.label,
        on: { click: () => { s.descending = s.sort === c.key ? !s.descending : false; s.sort = c.key; this.draw(); } },
      }))));
      const page = rows.slice(s.page * PAGE, (s.page + 1) * PAGE);
      this.body.replaceChildren(...page.map((r) => this.line(r)));
      const from = rows.length ? s.page * PAGE + 1 : 0;
      this.pager.replaceChildren(
        el("button", { type: "button", text: "previous", disabled: s.page === 0, on: { click: () => { s.page--; this.draw(); } } }),
        el("span", { id: "trials-count", text: `${from}-${s.page * PAGE + page.length} of ${rows.length} shown (${this.doc.rows.length} trials)` }),
        el("button", { type: "button", text: "next", disabled: s.page >= pages - 1, on: { click: () => { s.page++; this.draw(); } } }),
        ...(s.ranges.length ? [el("span", {}, " ranges: ", ...s.ranges.map((range, i) => el("button", { type: "button", class: "chip",
          text: `${range.key.replace(/^p:/, "")} in [${range.min ?? "-inf"}, ${range.max ?? "inf"}] x`,
          on: { click: () => { s.ranges.splice(i, 1); this.draw(); } } })))] : []));
      this.container.dataset.ready = String(this.doc.version);
    }

    line(r) {
      const pick = el("input", { type: "checkbox", class: "pick", checked: NNIFC.selection.has(r.id),
        on: { change: (e) => { if (e.target.checked) NNIFC.selection.add(r.id); else NNIFC.selection.delete(r.id); } } });
      const cells = this.columns.map((c) => {
        const v = c.value(r);
        if (c.key === "id") return el("td", {}, el("a", { href: `#/e/${this.expId}/t/${r.id}`, text: r.id }));
        if (c.key === "status") return el("td", { class: statusClass(v), text: v });
        return el("td", { class: c.number ? "num" : "", text: c.show ? c.show(v) : c.number ? number(v) : v ?? "" });
      });
      return el("tr", { dataset: { id: r.id } }, el("td", {}, pick), ...cells);
    }

    showComparison() {
      const picked = this.doc.rows.filter((r) => NNIFC.selection.has(r.id));
      if (!picked.length) {
        this.comparison.replaceChildren(el("p", { text: "select trials with the boxes on the left first" }));
        return;
      }
      const rowsOf = this.columns.filter((c) => c.key !== "id");
      const table = el("table", { class: "grid compare" },
        el("thead", {}, el("tr", {}, el("th", { text: "trial" }), ...picked.map((r) => el("th", {}, el("a", { href: `#/e/${this.expId}/t/${r.id}`, text: r.id }))))),
        el("tbody", {}, ...rowsOf.map((c) => el("tr", {}, el("th", { text: c.label }),
          ...picked.map((r) => { const v = c.value(r); return el("td", { text: c.show ? c.show(v) : c.number ? number(v) : v ?? "" }); })))));
      this.comparison.replaceChildren(el("h3", { text: "Compared" }), table,
        el("a", { href: `#/e/${this.expId}/curves`, text: "their intermediate results" }));
    }
  }

  NNIFC.TrialsTable = TrialsTable;
})();
