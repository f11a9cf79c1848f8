// The pages: the experiments list, one experiment (overview and a tab per view), one trial.
"use strict";
(function () {
  const { el, api, number, seconds, when, statusClass, bar, kv } = NNIFC;
  const TABS = [["trials", "Trials"], ["curves", "Intermediate results"], ["history", "Optimisation history"],
    ["parallel", "Parallel coordinates"], ["duration", "Duration"], ["importance", "Importance"]];

  function progressCells(p) {
    const trials = el("span", {}, p.maxTrials ? bar(p.finished, p.maxTrials) : null,
      ` ${p.finished}${p.maxTrials ? " of " + p.maxTrials : ""} finished` + (p.failed ? ` (${p.failed} failed)` : "") + `, ${p.running} running` + (p.waiting ? `, ${p.waiting} waiting` : ""));
    const time = el("span", {}, p.maxSeconds ? bar(p.spent, p.maxSeconds) : null,
      ` ${seconds(p.spent)}${p.maxSeconds ? " of " + seconds(p.maxSeconds) : ", no limit"}` + (p.eta !== null ? `, ETA ${seconds(p.eta)}` : ""));
    return { trials, time };
  }

  class ListPage {
    constructor(main) { this.main = main; this.versionPath = null; }
    async start() { await this.refresh(); }
    async refresh() {
      const doc = await api("experiments");
      if (NNIFC.current !== this) return; // left for another page meanwhile
      const head = el("tr", {}, ...["id", "name", "status", "reason", "trials", "time", "best", "started", "duration", "platform"].map((h) => el("th", { text: h })));
      const rows = doc.experiments.map((e) => {
        const p = progressCells(e.progress);
        return el("tr", { dataset: { id: e.id } },
          el("td", {}, el("a", { href: `#/e/${e.id}`, text: e.id })), el("td", { text: e.name }),
          el("td", { class: statusClass(e.status), text: e.status }), el("td", { text: [e.reason, e.message].filter(Boolean).join("; ") }),
          el("td", {}, p.trials), el("td", {}, p.time), el("td", { class: "num", text: e.progress.best ? number(e.progress.best.value) : "" }),
          el("td", { text: when(e.started) }), el("td", { class: "num", text: seconds(e.duration) }), el("td", { text: e.platform }));
      });
      const parts = [el("h1", { text: "Experiments" })];
      parts.push(doc.experiments.length ? el("table", { id: "experiments", class: "grid" }, el("thead", {}, head), el("tbody", {}, ...rows))
        : el("p", { text: "no experiments yet: nnifc create --config exp.yml" }));
      for (const bad of doc.unreadable) parts.push(el("p", { class: "error", text: bad.error }));
      this.main.replaceChildren(...parts);
      this.main.dataset.ready = "experiments";
    }
  }

  class ExperimentPage {
    constructor(main, expId, tab) {
      this.main = main; this.expId = expId; this.tab = tab || "trials";
      this.versionPath = `e/${expId}/version`;
    }

    async start() {
      this.header = el("section", { id: "overview" });
      this.panel = el("section", { id: "panel", dataset: { tab: this.tab } });
      const nav = el("nav", { class: "tabs" }, ...TABS.map(([key, label]) =>
        el("a", { href: `#/e/${this.expId}/${key}`, class: key === this.tab ? "active" : "", id: "tab-" + key, text: label })));
      this.main.replaceChildren(this.header, nav, this.panel);
      if (this.tab === "trials") this.table = new NNIFC.TrialsTable(this.panel, this.expId);
      if (this.tab === "curves") this.curves = new NNIFC.charts.Curves(this.panel, this.expId, () => this.drawTab());
      if (this.tab === "duration") this.panel.replaceChildren(el("div", { id: "chart-duration", class: "chart" }), el("div", { id: "chart-timeline", class: "chart" }), el("p", { class: "note" }));
      else if (!this.table && !this.curves) this.panel.replaceChildren(el("div", { id: "chart-" + this.tab, class: "chart" }), el("p", { class: "note" }));
      await this.refresh();
    }

    async refresh() {
      await Promise.all([this.drawOverview(), this.drawTab()]);
    }

    async drawOverview() {
      const o = await api(`e/${this.expId}/overview`);
      document.title = `nnifc: ${o.name} (${o.id})`;
      const p = progressCells(o.progress), best = o.progress.best;
      const bestCell = best ? el("span", {}, el("strong", { text: number(best.value) }), " trial ", el("a", { href: `#/e/${this.expId}/t/${best.id}`, text: best.id }), ` #${best.sequence} (${o.optimizeMode})`)
        : el("span", { class: "dim", text: "none yet" });
      const pairs = [["status", el("span", { class: statusClass(o.status), text: o.status + (o.concurrency && !o.ended ? `, ${o.concurrency} at a time` : "") })],
        ["trials", p.trials], ["time", p.time], ["best", bestCell]];
      if (o.reason) pairs.push(["reason", o.reason]);
      if (o.message && o.message !== o.reason) pairs.push(["message", el("span", { class: "error", text: o.message })]);
      if (o.imported) pairs.push(["imported", `${o.imported} finished points given to the tuner`]);
      pairs.push(["started", when(o.started) + (o.ended ? ", ended " + when(o.ended) : "")]);
      const parts = [el("h1", {}, el("span", { id: "exp-name", text: o.name }), " ", el("small", { text: `${o.id} on ${o.platform}` })), kv(pairs)];
      if (best) parts.push(el("details", { id: "best-params", open: true }, el("summary", { text: "best trial's parameters" }), kv(Object.entries(best.params).map(([k, v]) => [k, number(v)]))));
      parts.push(el("details", { id: "config" }, el("summary", { text: "config as loaded (" + o.configPath + ")" }), kv(o.config)));
      const open = this.header.querySelector("#config")?.open;
      this.header.replaceChildren(...parts);
      if (open) this.header.querySelector("#config").open = true;
      this.header.dataset.ready = String(o.version);
    }

    async drawTab() {
      const path = `e/${this.expId}/`, charts = NNIFC.charts, note = this.panel.querySelector("p.note");
      if (this.tab === "trials") return this.table.update(await api(path + "trials"));
      if (this.tab === "curves") return this.curves.update(await api(path + "curves", this.curves.query()));
      if (this.tab === "history") {
        const doc = await api(path + "history");
        note.textContent = charts.note(doc, "trials with a final result");
        return charts.history(this.panel.querySelector("#chart-history"), doc);
      }
      if (this.tab === "parallel") {
        const doc = await api(path + "parallel");
        note.textContent = charts.note(doc, "trials with a final result") + (doc.shown < doc.total ? " (the best fifth always)" : "");
        return charts.parallel(this.panel.querySelector("#chart-parallel"), doc);
      }
      if (this.tab === "duration") {
        const doc = await api(path + "durations");
        note.textContent = charts.note(doc, "started trials");
        return Promise.all([charts.durationPlot(this.panel.querySelector("#chart-duration"), doc), charts.timeline(this.panel.querySelector("#chart-timeline"), doc)]);
      }
      if (this.tab === "importance") {
        const doc = await api(path + "importance");
        note.textContent = `Method: ${doc.method}; ${doc.trials} trials used.` + (doc.note ? " " + doc.note : "");
        return charts.importance(this.panel.querySelector("#chart-importance"), doc);
      }
    }
  }

  class TrialPage {
    constructor(main, expId, trialId) {
      this.main = main; this.expId = expId; this.trialId = trialId;
      this.versionPath = `e/${expId}/version`;
      this.offsets = null;
    }

    async start() {
      this.info = el("section", { id: "trial" });
      this.follow = el("input", { id: "log-follow", type: "checkbox", checked: true });
      this.log = el("pre", { id: "log" });
      const logPart = NNIFC.embedded
        ? el("p", { class: "note", text: `Logs are not in the report: nnifc logs ${this.expId} ${this.trialId}` })
        : el("section", {}, el("h2", {}, "Log ", el("label", { class: "small" }, this.follow, " follow")), this.log);
      this.main.replaceChildren(el("p", {}, el("a", { href: `#/e/${this.expId}`, text: "experiment " + this.expId })), this.info, logPart);
      await this.refresh();
    }

    async refresh() {
      const t = await api(`e/${this.expId}/t/${this.trialId}`);
      this.finished = !["WAITING", "RUNNING"].includes(t.status);
      const metrics = [["final", number(t.final)], ["reported", t.finalRaw ?? ""], ["latest intermediate", number(t.latest)],
        ["tuner learnt", t.told ? `${t.told} ${number(t.toldValue)}` : ""]];
      const steps = el("table", { id: "intermediate", class: "grid" }, el("thead", {}, el("tr", {}, el("th", { text: "step" }), el("th", { text: "value" }))),
        el("tbody", {}, ...t.intermediate.map((v, i) => el("tr", {}, el("td", { class: "num", text: i }), el("td", { class: "num", text: number(v) })))));
      this.info.replaceChildren(
        el("h1", {}, "Trial ", el("span", { id: "trial-id", text: t.id }), ` #${t.sequence}`),
        kv([["status", el("span", { class: statusClass(t.status), text: t.status })], ["message", t.message], ["exit code", t.exitCode ?? ""],
          ["started", when(t.started)], ["ended", when(t.ended)], ["duration", seconds(t.duration)]]),
        el("h2", { text: "Parameters" }), kv(Object.entries(t.params).map(([k, v]) => [k, v === null ? "" : String(v)])),
        el("h2", { text: "Metrics" }), kv(metrics), el("details", {}, el("summary", { text: `${t.intermediate.length} intermediate results` }), steps));
      this.info.dataset.ready = t.status;
      if (!NNIFC.embedded) await this.readLog();
    }

    async readLog() {
      if (this.offsets && (!this.follow.checked || this.logDone)) return;
      const query = this.offsets ? { from: JSON.stringify(this.offsets) } : undefined;
      const doc = await api(`e/${this.expId}/t/${this.trialId}/log`, query);
      const several = doc.tasks.length > 1, first = !this.offsets;
      this.offsets = this.offsets || {};
      for (const part of doc.tasks) {
        if (first && part.cut) this.log.append(document.createTextNode("[earlier output left out]\n"));
        if (several && first) this.log.append(document.createTextNode(`==> ${part.task} <==\n`));
        if (part.text) this.log.append(document.createTextNode(part.text));
        this.offsets[part.task] = part.offset;
      }
      this.logDone = doc.finished && doc.tasks.every((part) => !part.text);
      this.log.dataset.offset = JSON.stringify(this.offsets);
    }

    async tick() { if (!NNIFC.embedded && !this.logDone) await this.readLog(); }
  }

  NNIFC.pages = { ListPage, ExperimentPage, TrialPage };
})();
