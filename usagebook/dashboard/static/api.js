// The customer billing API, as the dashboard calls it: the visitor's key on every request,
// numbers kept as exact decimal text, and errors carrying the status and the API's message.
import { addDays, parseExact } from "./exact.js";

const API = "/api/v1/billing";
let key = null;

export function useKey(secret) {
  key = secret;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, params = {}, accept = "application/json") {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`${API}${path}${query ? "?" + query : ""}`, {
    headers: { Authorization: `Bearer ${key}`, Accept: accept },
    cache: "no-store",
  });
  const text = await response.text();
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = JSON.parse(text).error || message; } catch (_) { /* not JSON */ }
    if (response.status === 429) {
      message = `Too many requests; try again in ${response.headers.get("Retry-After") || "a few"} s`;
    }
    throw new ApiError(response.status, message);
  }
  return { body: accept === "text/csv" ? text : parseExact(text), headers: response.headers };
}

/** A JSON number written from the visitor's decimal text as typed (never through a float);
 * anything else is sent as text, for the API to name what is wrong with it. */
export const exactNumber = (text) =>
  text === null ? "null" : /^\d{1,10}(\.\d{1,9})?$/.test(text) ? text : JSON.stringify(text);

/** Any `/api/v1` call (keys, webhooks): JSON in and out (a string body is sent as it is), errors as ApiError with the API's
 * message (a 400's first named problem included, so a form can show it). */
export async function call(method, path, body = undefined) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, Accept: "application/json",
      ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)),
    cache: "no-store",
  });
  const text = await response.text();
  const parsed = text ? parseExact(text) : null;
  if (!response.ok) {
    let message = (parsed && parsed.error) || `HTTP ${response.status}`;
    const named = parsed && parsed.details && firstProblem(parsed.details, []);
    if (named) message = named;
    throw new ApiError(response.status, message);
  }
  return parsed;
}

// The first problem a DetailedError names, with its field path (`consumptionLimit.usd: ...`).
function firstProblem(details, path) {
  if (details._errors && details._errors.length) return `${path.join(".") || "request"}: ${details._errors[0]}`;
  for (const [name, value] of Object.entries(details)) {
    if (name === "_errors" || !value || typeof value !== "object") continue;
    const found = firstProblem(value, [...path, name]);
    if (found) return found;
  }
  return null;
}

/** /billing/usage's inclusive bounds for a period of whole UTC days. */
export const usageRange = ({ start, end }) =>
  ({ startDate: `${start}T00:00:00.000Z`, endDate: `${end}T23:59:59.999Z` });

// The period's entries, oldest first, in the contract's CSV: walked with usage-history's
// keyset cursor (cheap at any depth), or /billing/usage pages where that is unavailable or
// the entries are filtered by key or model (usage-history has no such filter).
export async function periodCsv(bounds, filters, progress) {
  if (Object.keys(filters).length) return usageCsv(bounds, progress, filters);
  try {
    return await historyCsv(bounds, progress);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return usageCsv(bounds, progress);
    throw error;
  }
}

const withoutHeader = (csv) => csv.slice(csv.indexOf("\n") + 1);

async function historyCsv(bounds, progress) {
  const parts = [];
  let params = { startTimestamp: `${bounds.start}T00:00:00.000Z`,
    endTimestamp: `${addDays(bounds.end, 1)}T00:00:00.000Z`, pageSize: 1000 };
  for (;;) {
    const { body, headers } = await api("/usage-history", params, "text/csv");
    parts.push(parts.length ? withoutHeader(body) : body);
    progress(parts.length * 1000);
    const next = headers.get("x-next-cursor");
    if (!next) return parts.join("");
    params = { cursor: next };
  }
}

async function usageCsv(bounds, progress, filters = {}) {
  const parts = [];
  for (let page = 1, pages = 1; page <= pages; page++) {
    const { body, headers } = await api("/usage", {
      ...usageRange(bounds), ...filters, sortOrder: "asc", limit: 500, page }, "text/csv");
    pages = Number(headers.get("x-pagination-total-pages")) || 1;
    parts.push(page === 1 ? body : withoutHeader(body));
    progress(page * 500);
  }
  return parts.join("");
}

