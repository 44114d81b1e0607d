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

// ---- money on screen ----------------------------------------------------------------------

function roundedTo(nanos, places) {
  // Half away from zero, in exact integers: display only (the exact figure rides along).
  const step = 10n ** BigInt(9 - places);
  const size = nanos < 0n ? -nanos : nanos;
  const units = (size + step / 2n) / step;
  const text = units.toString().padStart(places + 1, "0");
  const whole = text.slice(0, -places).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${nanos < 0n ? "-" : ""}${whole}.${text.slice(-places)}`;
}

/** Money as people read it: cents, or 4 decimals below a cent ("< 0.0001" below that);
 * `exact` is the API's figure, for a tooltip and for exports. */
export function money(text) {
  if (text === null || text === undefined || text === "") return { text: "—", exact: "" };
  const nanos = toNanos(text);
  const size = nanos < 0n ? -nanos : nanos;
  let shown;
  if (size === 0n) shown = "0.00";
  else if (size >= 10000000n) shown = roundedTo(nanos, 2);
  else if (size >= 50000n) shown = roundedTo(nanos, 4);
  else shown = nanos < 0n ? "> -0.0001" : "< 0.0001";
  return { text: shown, exact: String(text) };
}
