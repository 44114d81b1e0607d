// Exact figures and UTC days for the dashboard. Money stays decimal text from the API to the
// screen; sums are exact in integer nano-units (BigInt), never floats.

const NANOS = 1000000000n;

/** JSON.parse keeping every number as its exact source text (JSON.parse source access). */
export function parseExact(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" ? (context && context.source) || String(value) : value);
}

export function toNanos(text) {
  let s = String(text);
  if (/e/i.test(s)) s = Number(s).toFixed(9);
  const negative = s.startsWith("-");
  const [whole, fraction = ""] = (negative ? s.slice(1) : s).split(".");
  const nanos = BigInt(whole || "0") * NANOS + BigInt((fraction + "000000000").slice(0, 9));
  return negative ? -nanos : nanos;
}

export function fromNanos(nanos) {
  const negative = nanos < 0n;
  const size = negative ? -nanos : nanos;
  const fraction = (size % NANOS).toString().padStart(9, "0").replace(/0+$/, "");
  return (negative ? "-" : "") + (size / NANOS).toString() + (fraction ? "." + fraction : "");
}

export const sum = (values) => fromNanos(values.reduce((total, v) => total + toNanos(v), 0n));

/** An exact decimal text with thousands separators; nothing is rounded. */
export function grouped(text) {
  if (text === null || text === undefined || text === "") return "—";
  const [whole, fraction] = String(text).split(".");
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction ? `${withCommas}.${fraction}` : withCommas;
}

// ---- dates (UTC days) -------------------------------------------------------------------

export const isoDay = (date) => date.toISOString().slice(0, 10);
export const addDays = (day, n) => isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000));
export const daysBetween = (a, b) => Math.round((Date.parse(b) - Date.parse(a)) / 86400000) + 1;
