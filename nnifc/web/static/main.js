// Routing (#/, #/e/EXP[/TAB], #/e/EXP/t/TRIAL) and live updates: once a second the page asks
// whether the store changed and, if it did, redraws from fresh data.
"use strict";
(function () {
  const { el, api, pages } = NNIFC;
  const main = document.getElementById("main"), live = document.getElementById("live");
  const POLL_MS = 1000;
  let page = null, version = null, busy = false;

  function route() {
    const parts = (location.hash.replace(/^#\/?/, "") || "").split("/").filter(Boolean).map(decodeURIComponent);
    if (!parts.length && NNIFC.embedded) return new pages.ExperimentPage(main, NNIFC.embedded.report.experiment);
    if (parts[0] === "e" && parts[1] && parts[2] === "t" && parts[3]) return new pages.TrialPage(main, parts[1], parts[3]);
    if (parts[0] === "e" && parts[1]) return new pages.ExperimentPage(main, parts[1], parts[2]);
    return new pages.ListPage(main);
  }

  async function show() {
    const mine = page = NNIFC.current = route();
    version = null;
    main.dataset.ready = "";
    try {
      if (mine.versionPath && !NNIFC.embedded) {
        const now = (await api(mine.versionPath)).version;
        if (mine === page) version = now;
      }
      if (mine === page) await mine.start();
    } catch (error) {
      if (mine === page) NNIFC.error(main, error); // not over a page opened meanwhile
    }
  }

  async function poll() {
    if (busy || !page || NNIFC.embedded) return;
    busy = true;
    const current = page;
    try {
      if (current.versionPath) {
        const now = (await api(current.versionPath)).version;
        if (now !== version) {
          await current.refresh();
          if (current === page) version = now;
        } else if (current.tick) await current.tick();
      } else await current.refresh();
      live.textContent = "live, updated " + new Date().toLocaleTimeString();
      document.body.dataset.version = String(version);
    } catch (error) {
      live.textContent = "not updating: " + (error.message || error);
    } finally {
      busy = false;
    }
  }

  window.addEventListener("hashchange", show);
  live.textContent = NNIFC.embedded ? "report: a snapshot, no live updates" : "live";
  show();
  if (!NNIFC.embedded) setInterval(poll, POLL_MS);
  NNIFC.el = el;
})();
