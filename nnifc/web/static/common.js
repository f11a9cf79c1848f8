// nnifc view: shared helpers. Every user or trial string reaches the page as a text node
// (textContent), never as markup; strings handed to plotly are escaped by plotText.
"use strict";
const NNIFC = (window.NNIFC = {});

NNIFC.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

NNIFC.embedded = (function () {
  const node = document.getElementById("nnifc-data");
  return node ? JSON.parse(node.textContent) : null;
})();

// The API's answer for `path` ("e/ID/trials"); in a report, the answer embedded in the file.
NNIFC.api = async function (path, query) {
  if (NNIFC.embedded) {
    const found = NNIFC.embedded[path];
    if (found === undefined) throw new Error("not in this report: " + path);
    return found;
  }
  const search = query ? "?" + new URLSearchParams(query).toString() : "";
  const response = await fetch("api/" + path + search, { cache: "no-store" });
  const document_ = await response.json();
  if (document_ && document_.error) throw new Error(document_.error);
  return document_;
};

NNIFC.number = function (value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "number") return String(value);
  return String(Number(value.toPrecision(6)));
};

NNIFC.seconds = function (seconds) {
  if (seconds === null || seconds === undefined) return "";
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600), minutes = Math.floor((whole % 3600) / 60), secs = whole % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (hours >= 24) return Math.floor(hours / 24) + "d" + two(hours % 24) + "h";
  if (hours) return hours + "h" + two(minutes) + "m";
  return minutes ? minutes + "m" + two(secs) + "s" : secs + "s";
};

NNIFC.when = function (epoch) {
  if (!epoch) return "";
  const d = new Date(epoch * 1000), two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
};

// plotly renders a few HTML tags in its strings: user text goes to it escaped
NNIFC.plotText = function (text) {
  return String(text).replace(/&/g, "&amp;").replace(/[<]/g, "&lt;").replace(/[>]/g, "&gt;");
};

NNIFC.statusClass = function (status) {
  return "status status-" + String(status).split(" ")[0].toLowerCase();
};

NNIFC.bar = function (done, total) {
  const share = total ? Math.min(1, done / total) : 1;
  const inner = NNIFC.el("span", { class: "bar-done" });
  inner.style.width = (100 * share).toFixed(1) + "%";
  return NNIFC.el("span", { class: "bar" }, inner);
};

NNIFC.error = function (container, error) {
  container.replaceChildren(NNIFC.el("p", { class: "error", text: String(error.message || error) }));
};

NNIFC.kv = function (pairs) {
  const table = NNIFC.el("table", { class: "kv" });
  for (const [key, value] of pairs) {
    const cell = value instanceof Node ? value : NNIFC.el("td", { text: value });
    table.append(NNIFC.el("tr", {}, NNIFC.el("th", { text: key }), cell instanceof HTMLTableCellElement ? cell : NNIFC.el("td", {}, cell)));
  }
  return table;
};

// the trials picked in the table, compared and highlighted in the charts
NNIFC.selection = new Set();
