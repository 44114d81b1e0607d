// Spend over time in the visitor's own zone: GET /api/v1/usage/analytics with a date range,
// zone, bucket size and grouping; a stacked chart, the table beside it, and a CSV of exactly
// the table. The view lives in the URL, so it can be reloaded and shared (never the key).
import { call, useKey } from "./api.js";
import { grouped, sum } from "./exact.js";

const KEY_STORE = "usagebook.apiKey";
const PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#64748b"];
const $ = (id) => document.getElementById(id);
let chart = null;
let shown = null;  // { head: [...], rows: [[...]] } as drawn in the table

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const localDay = (date, zone) =>
  new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit",
    day: "2-digit" }).format(date);

function viewFromUrl() {
  const params = new URLSearchParams(location.search);
  const zone = params.get("timeZone") || browserZone();
  const end = params.get("end") || localDay(new Date(), zone);
  const start = params.get("start") ||
    localDay(new Date(Date.parse(`${end}T12:00:00Z`) - 29 * 86400000), "UTC");
  const groupBy = params.get("groupBy") || "";
  return { start, end, zone, granularity: params.get("granularity") || "day", groupBy,
    measure: params.get("show") || "" };
}

function showView(view) {
  $("explore-start").value = view.start;
  $("explore-end").value = view.end;
  $("explore-zone").value = view.zone;
  $("explore-granularity").value = view.granularity;
  const tag = view.groupBy.startsWith("tag:");
  $("explore-group").value = tag ? "tag" : view.groupBy;
  $("explore-tag").value = tag ? view.groupBy.slice(4) : "";
  $("explore-tag-label").hidden = !tag;
  $("explore-measure").value = view.measure || "usd";
}

function viewFromForm() {
  const group = $("explore-group").value;
  return { start: $("explore-start").value, end: $("explore-end").value,
    zone: $("explore-zone").value.trim(), granularity: $("explore-granularity").value,
    groupBy: group === "tag" ? `tag:${$("explore-tag").value.trim()}` : group,
    measure: $("explore-measure").value };
}

function urlOf(view) {
  const params = new URLSearchParams({ start: view.start, end: view.end, timeZone: view.zone,
    granularity: view.granularity });
  if (view.measure) params.set("show", view.measure);
  if (view.groupBy) params.set("groupBy", view.groupBy);
  return params;
}

function setPanel(state, message = "") {
  const panel = $("explore-panel");
  panel.dataset.state = state;
  const status = panel.querySelector(".panel-status");
  status.textContent = message;
  status.hidden = !message;
}

// A bucket's label: its local start as the API wrote it, without the offset for days and up.
function label(bucket, granularity) {
  if (granularity === "hour") return bucket.slice(0, 16).replace("T", " ");
  if (granularity === "month") return bucket.slice(0, 7);
  return bucket.slice(0, 10);
}

const groupName = (series, groupBy) =>
  series.group === null ? (groupBy ? (groupBy.startsWith("tag:") ? "(no tag)" : "(none)") : "All") : series.group;

function draw(answer, view) {
  const labels = answer.buckets.map((b) => label(b, answer.granularity));
  const names = answer.series.map((s) => groupName(s, answer.groupBy));
  shown = {
    head: ["bucket", ...names, "total"],
    rows: labels.map((bucketLabel, i) => {
      const values = answer.series.map((s) => s[view.measure][i]);
      return [answer.buckets[i], ...values, sum(values)];
    }),
  };
  const head = $("explore-table").querySelector("thead tr");
  head.replaceChildren(...[`Bucket (${answer.timeZone})`, ...names, "Total"].map((text, i) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = text;
    if (i) th.className = "num";
    return th;
  }));
  $("explore-table").querySelector("tbody").replaceChildren(...shown.rows.map((cells, r) => {
    const tr = document.createElement("tr");
    cells.forEach((value, i) => {
      const td = document.createElement(i ? "td" : "th");
      if (i) { td.className = "num"; td.textContent = grouped(value); } else {
        td.scope = "row"; td.textContent = labels[r]; td.title = value;
      }
      tr.append(td);
    });
    return tr;
  }));
  const unit = view.measure === "usd" ? "USD" : "DIEM";
  $("explore-caption").textContent = `${unit}, ${answer.start} to ${answer.end}, ${answer.timeZone}`;
  $("explore-totals").textContent =
    `Total: ${grouped(answer.totals.usd)} USD and ${grouped(answer.totals.diem)} DIEM`;
  if (chart) chart.destroy();
  chart = new window.Chart($("explore-chart"), {
    type: "bar",
    data: {
      labels,
      // Chart.js draws with floats; the table and the CSV carry the exact figures.
      datasets: answer.series.map((s, i) => ({ label: names[i], data: s[view.measure].map(Number),
        backgroundColor: PALETTE[i % PALETTE.length] })),
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } }, y: { stacked: true } },
      plugins: { legend: { position: "bottom" } } },
  });
}

// Without a choice in the URL, show the currency the range was spent in (USD unless only DIEM).
const measureFor = (view, answer) => view.measure ||
  (Number(answer.totals.usd) === 0 && Number(answer.totals.diem) !== 0 ? "diem" : "usd");

async function load(view) {
  $("explore-error").hidden = true;
  setPanel("loading", "Loading…");
  const params = new URLSearchParams({ start: view.start, end: view.end, timeZone: view.zone,
    granularity: view.granularity });
  if (view.groupBy) params.set("groupBy", view.groupBy);
  try {
    const answer = await call("GET", `/usage/analytics?${params}`);
    const measure = measureFor(view, answer);
    $("explore-measure").value = measure;
    draw(answer, { ...view, measure });
    setPanel(answer.series.length ? "ready" : "empty",
      answer.series.length ? "" : "No spend in this range.");
  } catch (error) {
    setPanel("error", "Nothing to show.");
    $("explore-error").textContent = error.message;
    $("explore-error").hidden = false;
  }
}

function csvCell(text) {
  const s = String(text);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : (/^[=+\-@\t\r]/.test(s) && isNaN(Number(s)) ? `'${s}` : s);
}

function downloadCsv() {
  if (!shown) return;
  const text = [shown.head, ...shown.rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  link.download = `usagebook-spend-${viewFromForm().start}-${viewFromForm().end}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
}

function start() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) {
    $("signed-out").hidden = false;
    return;
  }
  useKey(key);
  $("explore").hidden = false;
  const zones = (Intl.supportedValuesOf && Intl.supportedValuesOf("timeZone")) || [];
  $("zones").replaceChildren(...zones.map((zone) => Object.assign(document.createElement("option"), { value: zone })));
  $("explore-group").addEventListener("change", () => {
    $("explore-tag-label").hidden = $("explore-group").value !== "tag";
  });
  $("explore-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const view = viewFromForm();
    history.pushState(null, "", `?${urlOf(view)}`);
    load(view);
  });
  $("explore-csv").addEventListener("click", downloadCsv);
  window.addEventListener("popstate", () => { const v = viewFromUrl(); showView(v); load(v); });
  const view = viewFromUrl();
  showView(view);
  load(view);
}

start();
