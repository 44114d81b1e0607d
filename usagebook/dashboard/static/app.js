// usagebook's usage dashboard: reads the customer billing API with the key the visitor pastes.
// No business logic lives here: every figure shown is one the API returned (sums of the API's
// daily figures are exact, in integer nano-units).
import { ApiError, api, call, periodCsv, usageRange, useKey } from "./api.js";
import { addDays, daysBetween, grouped, isoDay, money, sum, toNanos } from "./exact.js";

const KEY_STORE = "usagebook.apiKey";
const PAGE_SIZE = 20;
const TOP = 8;
const ADMIN_REQUIRED = "Admin API key required";
const COLORS = { USD: "#2563eb", DIEM: "#d97706" };

const $ = (id) => document.getElementById(id);
// `filters`: the entries table's key and model (ids; "" for all), kept in the URL with the period.
const state = { period: { days: 7 }, filters: { key: "", model: "" }, page: 1, totalPages: 0,
  charts: {}, load: 0 };

function periodBounds() {
  const p = state.period;
  const end = p.end || isoDay(new Date());
  const start = p.start || addDays(end, 1 - p.days);
  return { start, end, days: daysBetween(start, end) };
}

// ---- panels -----------------------------------------------------------------------------

function setPanel(id, panelState, message = "") {
  const panel = $(id);
  panel.dataset.state = panelState;
  panel.setAttribute("aria-busy", String(panelState === "loading"));
  const status = panel.querySelector(".panel-status");
  status.textContent = message;
  status.hidden = !message;
}

// A panel shows only the answer to its latest request: a slower, older answer (the visitor
// switched period or page meanwhile) is dropped.
const STALE = new Error("stale");
const tickets = {};

async function latest(panel, request) {
  const ticket = (tickets[panel] = (tickets[panel] || 0) + 1);
  let answer;
  try {
    answer = await request;
  } finally {
    if (ticket !== tickets[panel]) throw STALE;  // eslint-disable-line no-unsafe-finally
  }
  return answer;
}

function panelError(id, error) {
  if (error === STALE) return;
  if (error instanceof ApiError && error.status === 401) throw error;  // the key itself failed
  const unavailable = error instanceof ApiError && error.status === 404;
  setPanel(id, unavailable ? "unavailable" : "error",
    unavailable ? "Unavailable on this server." : `Could not load: ${error.message}`);
}

function figure(list, label, value, unit, testId) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.dataset.figure = testId;
  dd.textContent = value === null ? "—" : `${money(value).text} ${unit}`;
  if (value !== null) {
    dd.dataset.exact = value;
    dd.title = `${grouped(value)} ${unit} exactly`;
  }
  list.append(dt, dd);
}

function fillTable(tableId, rows) {
  const table = $(tableId);
  // A reflowing table (a card per row on a phone) labels each cell with its column's header
  // (drawn by CSS) and states its roles, which a changed CSS display may otherwise drop.
  const reflow = table.classList.contains("reflow");
  const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  table.querySelector("tbody").replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    if (reflow) tr.setAttribute("role", "row");
    cells.forEach((cell, column) => {
      const td = document.createElement("td");
      const { text, numeric, title, exact } = typeof cell === "object" && cell ? cell : { text: cell };
      td.textContent = text ?? "";
      if (numeric) td.className = "num";
      if (title) td.title = title;
      if (exact !== undefined) td.dataset.exact = exact;
      if (reflow) {
        td.setAttribute("role", "cell");
        td.dataset.label = labels[column];
      }
      tr.append(td);
    });
    return tr;
  }));
}

const num = (text) => ({ text: grouped(text), numeric: true });
// Money columns: rounded for reading, the exact figure on hover (exports stay exact).
const cash = (text) => ({ text: money(text).text, numeric: true, title: grouped(text), exact: text });

function drawChart(canvasId, config) {
  const old = state.charts[canvasId];
  if (old) old.destroy();
  state.charts[canvasId] = new Chart($(canvasId), config);
}

function stackedBars(labels, usd, diem, horizontal) {
  const axis = { stacked: true, ticks: { maxRotation: 0, autoSkip: true } };
  return {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "USD (incl. bundled credits)", data: usd.map(Number), backgroundColor: COLORS.USD, exact: usd },
        { label: "DIEM", data: diem.map(Number), backgroundColor: COLORS.DIEM, exact: diem },
      ],
    },
    options: {
      indexAxis: horizontal ? "y" : "x",
      responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: axis, y: axis },
      plugins: { legend: { position: "bottom" } },
    },
  };
}

// The top 8 lines, then one "Other" line summing the rest exactly (when there is a rest).
function withOther(lines, other) {
  return lines.length > TOP ? [...lines.slice(0, TOP), other(lines.slice(TOP))] : lines;
}

function showAnalytics(body) {
  const usd = body.byDate.map((d) => d.USD);
  const diem = body.byDate.map((d) => d.DIEM);
  const spend = $("spend-figures");
  spend.replaceChildren();
  figure(spend, "USD and bundled credits", sum(usd), "USD", "spend-usd");
  figure(spend, "DIEM", sum(diem), "DIEM", "spend-diem");
  setPanel("spend-panel", "ready");

  drawChart("daily-chart", stackedBars(body.byDate.map((d) => d.date), usd, diem, false));
  fillTable("daily-table", body.byDate.map((d) => [d.date, cash(d.USD), cash(d.DIEM)]));
  const quiet = usd.concat(diem).every((v) => toNanos(v) === 0n);
  setPanel("daily-panel", quiet ? "empty" : "ready", quiet ? "No spend in this period." : "");

  const models = withOther(body.byModel, (rest) => ({
    modelName: `Other (${rest.length} models)`, modelType: "", unitType: "",
    totalUsd: sum(rest.map((m) => m.totalUsd)), totalDiem: sum(rest.map((m) => m.totalDiem)),
    totalUnits: null }));
  drawChart("models-chart", stackedBars(models.map((m) => m.modelName),
    models.map((m) => m.totalUsd), models.map((m) => m.totalDiem), true));
  fillTable("models-table", models.map((m) => [
    { text: m.modelName, title: m.modelType || "" }, cash(m.totalUsd), cash(m.totalDiem),
    { text: m.totalUnits === null ? "—" : `${grouped(m.totalUnits)} ${m.unitType}`, numeric: true },
  ]));
  setPanel("models-panel", models.length ? "ready" : "empty", models.length ? "" : "No models used in this period.");

  const keys = withOther(body.byKey, (rest) => ({
    description: `Other (${rest.length} keys)`, apiKeyId: null, other: true,
    totalUsd: sum(rest.map((k) => k.totalUsd)), totalDiem: sum(rest.map((k) => k.totalDiem)) }));
  const keyName = (k) => k.description || (k.apiKeyId ? `Key …${k.apiKeyId.slice(-6)}` : "Web App");
  drawChart("keys-chart", stackedBars(keys.map(keyName),
    keys.map((k) => k.totalUsd), keys.map((k) => k.totalDiem), true));
  fillTable("keys-table", keys.map((k) => [
    { text: keyName(k), title: k.other ? "" : k.apiKeyId || "usage without a key" },
    cash(k.totalUsd), cash(k.totalDiem),
  ]));
  setPanel("keys-panel", keys.length ? "ready" : "empty", keys.length ? "" : "No keys used in this period.");
  fillPicker("filter-key", body.byKey.filter((k) => k.apiKeyId).map((k) => [k.apiKeyId, keyName(k)]),
    state.filters.key);
}

// ---- the entries' key and model pickers -------------------------------------------------------

// Options are what the account used in the period (keys from the totals above, models from
// /usage/analytics); a chosen one stays listed (by its id) in a period where it was not used.
function fillPicker(id, options, chosen) {
  const select = $(id);
  const first = select.options[0];
  const listed = chosen && !options.some(([value]) => value === chosen)
    ? [...options, [chosen, chosen]] : options;
  select.replaceChildren(first, ...listed.map(([value, label]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label === value ? value : `${label} (${value})`;
    return option;
  }));
  select.value = chosen;
}

async function loadModelPicker(bounds) {
  try {
    const answer = await latest("models-picker", call("GET",
      `/usage/analytics?start=${bounds.start}&end=${bounds.end}&groupBy=model`));
    fillPicker("filter-model", answer.series.map((s) => [s.group, s.group]), state.filters.model);
  } catch (error) {
    if (error === STALE) return;
    if (error instanceof ApiError && error.status === 401) throw error;
    fillPicker("filter-model", [], state.filters.model);  // the chosen model stays usable
  }
}

function chooseFilters() {
  state.filters = { key: $("filter-key").value, model: $("filter-model").value };
  state.page = 1;
  writeUrl();
  loadEntries(periodBounds());
}

async function loadAnalytics(bounds) {
  const params = state.period.start
    ? { startDate: bounds.start, endDate: bounds.end } : { lookback: `${state.period.days}d` };
  // The period just before, as long, beside the current one.
  const previous = { startDate: addDays(bounds.start, -bounds.days), endDate: addDays(bounds.start, -1) };
  try {
    const [current, before] = await latest("analytics", Promise.all([
      api("/usage-analytics", params),
      api("/usage-analytics", previous).catch((e) => (e.status === 401 ? Promise.reject(e) : null))]));
    showAnalytics(current.body);
    if (before) showPrevious(before.body, previous);
  } catch (error) {
    for (const id of ["spend-panel", "daily-panel", "models-panel", "keys-panel"]) panelError(id, error);
  }
}

function showPrevious(body, period) {
  const spend = $("spend-figures");
  const usd = sum(body.byDate.map((d) => d.USD));
  const diem = sum(body.byDate.map((d) => d.DIEM));
  figure(spend, `Previous ${period.startDate} to ${period.endDate}`, usd, "USD", "previous-usd");
  figure(spend, "Previous, DIEM", diem, "DIEM", "previous-diem");
}

async function loadBalances() {
  const list = $("balance-figures");
  try {
    const [credits, balance] = await latest("balances", Promise.all([
      api("/credits"), api("/balance").catch((e) => (e.status === 401 ? Promise.reject(e) : null))]));
    const b = credits.body.balances;
    list.replaceChildren();
    figure(list, "USD", b.USD, "USD", "balance-usd");
    figure(list, "Bundled credits", b.BUNDLED_CREDITS, "BUNDLED_CREDITS", "balance-bundled");
    figure(list, "DIEM left today", b.DIEM, "DIEM", "balance-diem");
    figure(list, "DIEM daily allocation", credits.body.diemEpochAllocation, "DIEM", "diem-allocation");
    $("balance-note").hidden = ![b.USD, b.BUNDLED_CREDITS, b.DIEM].some(
      (v) => v !== null && v !== undefined && toNanos(v) < 0n);
    if (balance) {
      const next = balance.body.consumptionCurrency;
      const dt = document.createElement("dt");
      dt.textContent = "Next charge uses";
      const dd = document.createElement("dd");
      dd.dataset.figure = "consumption";
      dd.textContent = next || "nothing left to spend";
      list.append(dt, dd);
    }
    setPanel("balances-panel", "ready");
  } catch (error) {
    if (error !== STALE) list.replaceChildren();
    panelError("balances-panel", error);
  }
}

async function loadEntries(bounds) {
  setPanel("entries-panel", "loading", "Loading…");
  try {
    const { body } = await latest("entries", api("/usage", {
      ...usageRange(bounds), ...filterParams(), sortOrder: "desc", limit: PAGE_SIZE,
      page: state.page }));
    state.totalPages = Number(body.pagination.totalPages);
    fillTable("entries-table", body.data.map((e) => [
      e.timestamp.replace("T", " ").replace("Z", ""), e.sku, num(e.units), num(e.pricePerUnitUsd),
      cash(e.amount), e.currency,
      { text: e.inferenceDetails?.requestId ?? "",
        title: [e.inferenceDetails?.requestId, e.notes].filter(Boolean).join(" · ") },
      { text: tokens(e.inferenceDetails), numeric: true },
    ]));
    const total = Number(body.pagination.total);
    $("page-info").textContent = total
      ? `Page ${state.page} of ${state.totalPages} · ${grouped(String(total))} entries`
      : "No entries";
    $("prev-page").disabled = state.page <= 1;
    $("next-page").disabled = state.page >= state.totalPages;
    const filtered = Boolean(state.filters.key || state.filters.model);
    setPanel("entries-panel", total ? "ready" : "empty", total ? ""
      : filtered ? "No entries of this key and model in this period." : "No entries in this period.");
    // A filtered count says nothing of the period's usage: the notice about it is left out.
    if (filtered) $("notice").hidden = true;
    return filtered ? null : total;
  } catch (error) {
    panelError("entries-panel", error);
    return null;
  }
}

// /billing/usage's own filters, for what the pickers hold.
function filterParams() {
  const { key, model } = state.filters;
  return { ...(key ? { apiKeyId: key } : {}), ...(model ? { modelId: model } : {}) };
}

function tokens(details) {
  if (!details || (details.promptTokens == null && details.completionTokens == null)) return "";
  return `${grouped(details.promptTokens ?? "0")} / ${grouped(details.completionTokens ?? "0")}`;
}

async function explainEmpty(periodTotal) {
  const notice = $("notice");
  notice.hidden = periodTotal !== 0;
  if (periodTotal !== 0) return;
  const { body } = await api("/usage", { limit: 1 });
  notice.textContent = Number(body.pagination.total) === 0
    ? "This account has no usage yet. Entries appear here as soon as they are recorded."
    : "No usage in this period. Choose a longer period to see older usage.";
}

// ---- loading the whole page ---------------------------------------------------------------

async function refresh() {
  const load = ++state.load;
  const bounds = periodBounds();
  $("period-label").textContent = `${bounds.start} to ${bounds.end} (UTC), ${bounds.days} day${bounds.days > 1 ? "s" : ""}`;
  for (const id of ["spend-panel", "balances-panel", "daily-panel", "models-panel", "keys-panel"]) {
    setPanel(id, "loading", "Loading…");
  }
  try {
    const [total] = await Promise.all([loadEntries(bounds), loadAnalytics(bounds), loadBalances(),
      loadModelPicker(bounds)]);
    if (load === state.load && total !== null) await explainEmpty(total);
  } catch (error) {
    handleKeyError(error);
  }
}

function handleKeyError(error) {
  if (!(error instanceof ApiError) || error.status !== 401) {
    $("notice").hidden = false;
    $("notice").textContent = `Something went wrong: ${error.message}`;
    return;
  }
  signOut(error.message === ADMIN_REQUIRED
    ? "INFERENCE keys are not allowed here: they cannot read an account's spend. Paste an ADMIN key."
    : "This API key was not accepted (unknown, revoked or expired). Check it and try again.");
}

async function signIn(key) {
  useKey(key);
  $("sign-in-button").disabled = true;
  $("key-error").hidden = true;
  try {
    await api("/usage", { limit: 1 });  // one cheap call tells a wrong key from a good one
    sessionStorage.setItem(KEY_STORE, key);
    showDashboard();
    state.filters = filtersFromUrl();
    choosePeriod(periodFromUrl());
  } catch (error) {
    handleKeyError(error);
  } finally {
    $("sign-in-button").disabled = false;
  }
}

function showDashboard() {
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  $("pages-nav").hidden = false;
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORE);
  useKey(null);
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("pages-nav").hidden = true;
  $("sign-in").hidden = false;
  const error = $("key-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("api-key").value = "";
  $("api-key").focus();
}

// ---- CSV download of the period -------------------------------------------------------------

async function downloadCsv() {
  const bounds = periodBounds();
  const status = $("download-status");
  const button = $("download-csv");
  button.disabled = true;
  try {
    const csv = await periodCsv(bounds, filterParams(), (rows) => {
      status.textContent = `Preparing CSV… up to ${grouped(String(rows))} rows`;
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    link.download = `usage-${bounds.start}-to-${bounds.end}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    status.textContent = "CSV downloaded.";
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) handleKeyError(error);
    else status.textContent = `CSV download failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---- controls -------------------------------------------------------------------------------

function choosePeriod(period) {
  state.period = period;
  state.page = 1;
  for (const button of document.querySelectorAll(".period")) {
    button.setAttribute("aria-pressed", String(!period.start && Number(button.dataset.days) === period.days));
  }
  const bounds = periodBounds();  // the pickers always show the period on screen
  $("range-start").value = bounds.start;
  $("range-end").value = bounds.end;
  writeUrl();
  refresh();
}

// The view lives in the URL (reload, bookmark, share); the key never does.
function writeUrl() {
  const { period, filters } = state;
  const view = new URLSearchParams(period.start ? { start: period.start, end: period.end }
    : { days: String(period.days) });
  if (filters.key) view.set("key", filters.key);
  if (filters.model) view.set("model", filters.model);
  const query = `?${view}`;
  if (location.search !== query) history.replaceState(null, "", query);
}

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  return { key: params.get("key") || "", model: params.get("model") || "" };
}

function periodFromUrl() {
  const params = new URLSearchParams(location.search);
  const start = params.get("start");
  const end = params.get("end");
  const day = /^\d{4}-\d{2}-\d{2}$/;
  if (start && end && day.test(start) && day.test(end) && start <= end
      && daysBetween(start, end) <= 90) {
    return { start, end, days: daysBetween(start, end) };
  }
  const days = Number(params.get("days"));
  return { days: [7, 30, 90].includes(days) ? days : 7 };
}

function applyRange(event) {
  event.preventDefault();
  const start = $("range-start").value;
  const end = $("range-end").value;
  const error = $("range-error");
  const problem = !start || !end ? "Choose both days of the range."
    : start > end ? "The first day must not be after the last."
    : daysBetween(start, end) > 90 ? "A range covers at most 90 days." : "";
  error.hidden = !problem;
  error.textContent = problem;
  if (!problem) choosePeriod({ start, end, days: daysBetween(start, end) });
}

function wire() {
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) signIn(key);
    else signOut("Paste an API key first.");
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  for (const button of document.querySelectorAll(".period")) {
    button.addEventListener("click", () => choosePeriod({ days: Number(button.dataset.days) }));
  }
  $("period-form").addEventListener("submit", applyRange);
  $("download-csv").addEventListener("click", downloadCsv);
  $("filter-key").addEventListener("change", chooseFilters);
  $("filter-model").addEventListener("change", chooseFilters);
  $("prev-page").addEventListener("click", () => { state.page -= 1; loadEntries(periodBounds()); });
  $("next-page").addEventListener("click", () => { state.page += 1; loadEntries(periodBounds()); });
  const today = isoDay(new Date());
  $("range-end").value = today;
  $("range-start").value = addDays(today, -29);
  $("range-end").max = $("range-start").max = today;
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) signIn(saved);
}

document.addEventListener("DOMContentLoaded", wire);
