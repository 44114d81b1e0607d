// Keys and webhooks: the account's API keys (create with a limit, this period's use against
// it, revoke) and webhook endpoints (add, pause, rotate the secret, delete, read the delivery
// log, replay an event). Everything shown is what the API answered; the ADMIN key is the one
// pasted on the usage page, read from this tab's session storage.
import { call, exactNumber, useKey } from "./api.js";
import { grouped, toNanos } from "./exact.js";

const KEY_STORE = "usagebook.apiKey";
const EVENT_TYPES = ["key.limit.threshold_crossed", "key.limit.reached", "key.limit.reset",
  "account.limit.threshold_crossed", "account.limit.reached", "account.balance.low",
  "key.expiring"];
const PERIODS = { EPOCH: "today (UTC)", MONTH: "this month (UTC)", LIFETIME: "lifetime" };

const $ = (id) => document.getElementById(id);

function cell(text, label, className = "") {
  const td = document.createElement("td");
  td.setAttribute("role", "cell");
  td.dataset.label = label;
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text;
  return td;
}

function row(cells) {
  const tr = document.createElement("tr");
  tr.setAttribute("role", "row");
  tr.append(...cells);
  return tr;
}

function button(text, onClick, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function setPanel(id, state, message = "") {
  const panel = $(id);
  panel.dataset.state = state;
  const status = panel.querySelector(".panel-status");
  status.textContent = message;
  status.hidden = !message;
}

function showError(id, error) {
  const box = $(id);
  box.textContent = error ? (error.message || String(error)) : "";
  box.hidden = !error;
}

// ---- API keys ------------------------------------------------------------------------------

function limitText(key) {
  const limits = key.consumptionLimits || {};
  const parts = [];
  if (limits.usd !== null && limits.usd !== undefined) parts.push(`${grouped(limits.usd)} USD`);
  if (limits.diem !== null && limits.diem !== undefined) parts.push(`${grouped(limits.diem)} DIEM`);
  return parts.length ? `${parts.join(", ")} ${PERIODS[key.limitPeriod] || key.limitPeriod}` : "none";
}

function usageAgainstLimit(key) {
  const used = key.currentPeriodUsage;
  const limits = key.consumptionLimits || {};
  if (!used) return document.createTextNode("—");
  const box = document.createElement("div");
  for (const [name, label] of [["usd", "USD"], ["diem", "DIEM"]]) {
    if (limits[name] === null || limits[name] === undefined) continue;
    const line = document.createElement("div");
    line.className = "usage-line";
    const meter = document.createElement("meter");
    // Per mille of the limit, in exact nano-units (a 0 limit shows as full).
    const limit = toNanos(limits[name]);
    const share = limit > 0n ? (toNanos(used[name]) * 1000n) / limit : 1000n;
    meter.min = 0;
    meter.max = 1000;
    meter.value = Number(share > 1000n ? 1000n : share);
    meter.setAttribute("aria-label", `${label} used of the limit`);
    const text = document.createElement("span");
    text.textContent = `${grouped(used[name])} of ${grouped(limits[name])} ${label}`;
    line.append(meter, text);
    box.append(line);
  }
  return box;
}

function keyName(key) {
  const box = document.createElement("div");
  const id = document.createElement("div");
  id.className = "muted small";
  id.textContent = `${key.id} · …${key.last6Chars}`;
  box.append(key.description || "(no description)", id);
  return box;
}

async function loadKeys() {
  setPanel("api-keys-panel", "loading", "Loading…");
  try {
    const answer = await call("GET", "/api_keys");
    const body = $("api-keys-table").querySelector("tbody");
    body.replaceChildren(...answer.data.map((key) => row([
      cell(keyName(key), "Key"),
      cell(key.apiKeyType, "Type"),
      cell(limitText(key), "Limit"),
      cell(usageAgainstLimit(key), "Used this period"),
      cell(grouped(key.usage.trailingSevenDays.usd), "Last 7 days (USD)", "num"),
      cell(key.expiresAt ? key.expiresAt.slice(0, 10) : "never", "Expires"),
      cell(button("Revoke", () => revokeKey(key), `Revoke ${key.description || key.id}`), "Actions"),
    ])));
    setPanel("api-keys-panel", answer.data.length ? "ready" : "empty",
      answer.data.length ? "" : "No active keys.");
  } catch (error) {
    setPanel("api-keys-panel", "error", error.message);
  }
}

async function revokeKey(key) {
  if (!window.confirm(`Revoke ${key.description || key.id}? Requests with it stop at once.`)) return;
  try {
    await call("DELETE", `/api_keys?id=${encodeURIComponent(key.id)}`);
  } catch (error) {
    setPanel("api-keys-panel", "error", error.message);
    return;
  }
  await loadKeys();
}

async function createKey(event) {
  event.preventDefault();
  showError("key-create-error", null);
  const limit = (id) => $(id).value.trim() === "" ? null : $(id).value.trim();
  const body = {
    apiKeyType: $("new-key-type").value,
    description: $("new-key-description").value.trim(),
    limitPeriod: $("new-key-period").value,
  };
  if ($("new-key-expires").value) body.expiresAt = $("new-key-expires").value;
  let text = JSON.stringify(body);
  const usd = limit("new-key-limit-usd");
  const diem = limit("new-key-limit-diem");
  if (usd !== null || diem !== null) {
    // Limits are JSON numbers written as the visitor typed them, never through a float.
    text = `${text.slice(0, -1)},"consumptionLimit":{"usd":${exactNumber(usd)},`
      + `"diem":${exactNumber(diem)},"vcu":null}}`;
  }
  try {
    const created = await call("POST", "/api_keys", text);
    $("new-key-secret-text").textContent = created.data.apiKey;
    $("new-key-secret").hidden = false;
    $("key-create").reset();
  } catch (error) {
    showError("key-create-error", error);
    return;
  }
  await loadKeys();
}

// ---- webhooks ------------------------------------------------------------------------------

let shownDeliveries = null;

async function loadWebhooks() {
  setPanel("webhooks-panel", "loading", "Loading…");
  try {
    const answer = await call("GET", "/webhooks");
    const body = $("webhooks-table").querySelector("tbody");
    body.replaceChildren(...answer.data.map((hook) => row([
      cell(`${hook.url}${hook.description ? " · " + hook.description : ""}`, "Endpoint"),
      cell(hook.eventTypes.join(", "), "Events"),
      cell(hook.enabled ? "enabled" : "disabled", "State"),
      cell(actions(hook), "Actions"),
    ])));
    setPanel("webhooks-panel", answer.data.length ? "ready" : "empty",
      answer.data.length ? "" : "No webhook endpoints.");
  } catch (error) {
    setPanel("webhooks-panel", "error", error.message);
  }
}

function actions(hook) {
  const box = document.createElement("div");
  box.className = "actions";
  box.append(
    button("Deliveries", () => loadDeliveries(hook), `Deliveries to ${hook.url}`),
    button(hook.enabled ? "Disable" : "Enable", () => webhookChange(
      () => call("PATCH", `/webhooks/${hook.id}`, { enabled: !hook.enabled })),
      `${hook.enabled ? "Disable" : "Enable"} ${hook.url}`),
    button("Rotate secret", () => webhookChange(async () => {
      const rotated = await call("POST", `/webhooks/${hook.id}/rotate-secret`);
      $("new-webhook-secret-text").textContent = rotated.secret;
      $("new-webhook-secret").hidden = false;
    }), `Rotate the secret of ${hook.url}`),
    button("Delete", () => window.confirm(`Delete the endpoint ${hook.url}?`) && webhookChange(
      () => call("DELETE", `/webhooks/${hook.id}`)), `Delete ${hook.url}`),
  );
  return box;
}

async function webhookChange(work) {
  try {
    await work();
  } catch (error) {
    setPanel("webhooks-panel", "error", error.message);
    return;
  }
  await loadWebhooks();
}

async function createWebhook(event) {
  event.preventDefault();
  showError("webhook-create-error", null);
  const types = [...document.querySelectorAll("input[name=event-type]:checked")].map((b) => b.value);
  const body = { url: $("new-webhook-url").value.trim(), eventTypes: types };
  const description = $("new-webhook-description").value.trim();
  if (description) body.description = description;
  try {
    const created = await call("POST", "/webhooks", body);
    $("new-webhook-secret-text").textContent = created.secret;
    $("new-webhook-secret").hidden = false;
    $("webhook-create").reset();
  } catch (error) {
    showError("webhook-create-error", error);
    return;
  }
  await loadWebhooks();
}

async function loadDeliveries(hook) {
  shownDeliveries = hook;
  $("deliveries-panel").hidden = false;
  $("deliveries-endpoint").textContent = hook.url;
  setPanel("deliveries-panel", "loading", "Loading…");
  try {
    const answer = await call("GET", `/webhooks/${hook.id}/deliveries?limit=100`);
    const body = $("deliveries-table").querySelector("tbody");
    body.replaceChildren(...answer.data.map((d) => row([
      cell(d.eventId, "Event"),
      cell(d.type, "Type"),
      cell(d.status, "Status"),
      cell(String(d.attempts), "Attempts", "num"),
      cell(d.responseStatus === null ? "—" : String(d.responseStatus), "Answer", "num"),
      cell(d.durationMs === null ? "—" : String(d.durationMs), "Time (ms)", "num"),
      cell(d.createdAt.replace("T", " ").slice(0, 19), "Created (UTC)"),
      cell(d.nextAttemptAt ? d.nextAttemptAt.replace("T", " ").slice(0, 19) : "—", "Next try (UTC)"),
      cell(button("Replay", () => replay(hook, d.eventId), `Replay ${d.eventId}`), "Actions"),
    ])));
    setPanel("deliveries-panel", answer.data.length ? "ready" : "empty",
      answer.data.length ? "" : "No events sent to this endpoint yet.");
    $("deliveries-panel").scrollIntoView({ block: "nearest" });
  } catch (error) {
    setPanel("deliveries-panel", "error", error.message);
  }
}

async function replay(hook, eventId) {
  try {
    const answer = await call("POST", `/webhooks/${hook.id}/replay`, { eventId });
    setPanel("deliveries-panel", "ready", `Queued ${answer.queued} for delivery again.`);
  } catch (error) {
    setPanel("deliveries-panel", "error", error.message);
    return;
  }
  if (shownDeliveries === hook) await loadDeliveries(hook);
}

// ---- start ---------------------------------------------------------------------------------

function eventTypeBoxes() {
  const fieldset = document.querySelector("#webhook-create .event-types");
  for (const type of EVENT_TYPES) {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "event-type";
    box.value = type;
    box.checked = true;
    label.append(box, ` ${type}`);
    fieldset.append(label);
  }
}

function start() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) {
    $("signed-out").hidden = false;
    return;
  }
  useKey(key);
  $("manage").hidden = false;
  eventTypeBoxes();
  $("key-create").addEventListener("submit", createKey);
  $("webhook-create").addEventListener("submit", createWebhook);
  loadKeys();
  loadWebhooks();
}

start();
