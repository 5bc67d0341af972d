// Reports as pictures (Chart.js, served with the console): the funnel, sends and outcomes over
// time, exclusions and failures by reason, by locale; each chart's numbers one click away.
// Reads the report's first shape (total, byStatus, byReason, byLocale) and, when present, its
// richer one (counts, excludedByReason, rejectedByReason, failedByReason, days).
import { api, enc } from "./api.js";
import { h, clear, field, uid, formatTime, append } from "./dom.js";

const COLORS = ["#1f5eb8", "#2e8540", "#b35c00", "#8a2be2", "#c0392b", "#00838f", "#6d4c41", "#546e7a"];
const SENT = ["sent", "delivered", "opened", "clicked", "bounced", "complained"];
const DELIVERED = ["delivered", "opened", "clicked", "complained"];

const sum = (object, keys) => keys.reduce((total, key) => total + (Number(object?.[key]) || 0), 0);
const unique = (value) => (typeof value === "object" && value !== null ? Number(value.unique) || 0 : Number(value) || 0);

export function funnel(report) {
  const counts = report.counts;
  if (counts) {
    return [["targeted", counts.targeted], ["sent", counts.sent], ["delivered", counts.delivered], ["opened", unique(counts.opened)], ["clicked", unique(counts.clicked)]]
      .map(([label, value]) => [label, Number(value) || 0]);
  }
  const status = report.byStatus || {};
  return [["targeted", report.total || 0], ["sent", sum(status, SENT)], ["delivered", sum(status, DELIVERED)], ["opened", sum(status, ["opened", "clicked"])], ["clicked", sum(status, ["clicked"])]];
}

export function reasons(report) {
  const rows = [];
  const groups = [["excluded", report.excludedByReason], ["rejected", report.rejectedByReason], ["failed", report.failedByReason]];
  if (groups.some(([, values]) => values)) {
    for (const [kind, values] of groups) for (const [reason, count] of Object.entries(values || {})) rows.push([`${reason} (${kind})`, count]);
  } else for (const [reason, count] of Object.entries(report.byReason || {})) rows.push([reason, count]);
  return rows.sort((a, b) => b[1] - a[1]);
}

const OVER_TIME = ["sent", "delivered", "opened", "clicked", "bounced", "failed", "excluded", "rejected"];

function chartFigure(title, description, columns, rows, config) {
  const id = uid("chart");
  const canvas = h("canvas", { role: "img", "aria-label": `${title}: ${description}` });
  // Scrolls sideways when wider than its card (many days), so it can take the focus for the keyboard.
  const numbers = h("div", { id: `${id}-numbers`, class: "numbers", hidden: true, tabindex: "0", role: "region", "aria-label": `${title}: the numbers` },
    h("table", {}, h("caption", {}, `${title}: the numbers`),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, String(cell)) : h("td", {}, String(cell)))))))));
  const toggle = h("button", { type: "button", class: "toggle", "aria-expanded": "false", "aria-controls": numbers.id, onclick: () => {
    numbers.hidden = !numbers.hidden;
    toggle.setAttribute("aria-expanded", String(!numbers.hidden));
    toggle.textContent = numbers.hidden ? "Show the numbers" : "Hide the numbers";
  } }, "Show the numbers");
  const figure = h("figure", { class: "chart card", dataset: { chart: title } },
    h("figcaption", {}, h("h2", {}, title), h("p", { class: "muted" }, description)),
    rows.length ? h("div", { class: "canvas-box" }, canvas) : h("p", { class: "empty" }, "Nothing to show yet."),
    toggle, numbers);
  return { figure, canvas, draw: () => (rows.length && window.Chart ? new window.Chart(canvas, config) : null) };
}

const base = (extra = {}) => ({ animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } }, ...extra });
// Bars of whole recipients: the count axis starts at zero and has no fractional ticks.
const bars = (extra = {}) => {
  const countAxis = extra.indexAxis === "y" ? "x" : "y";
  return base({ ...extra, scales: { [countAxis]: { beginAtZero: true, ticks: { precision: 0 } } } });
};

export async function reportPage(main, { params: [id], query }) {
  const campaign = await api("GET", `campaigns/${enc(id)}`);
  const since = h("input", { type: "text", name: "since", value: query.get("since") || "", placeholder: "2026-12-01T00:00:00Z" });
  const form = h("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    window.location.hash = `#/campaigns/${enc(id)}/report${since.value.trim() ? `?since=${enc(since.value.trim())}` : ""}`;
  } }, field({ label: "Since (ISO-8601, hour precision)", control: since }), h("button", { type: "submit" }, "Show"));
  const params = new URLSearchParams({ by: "day" });
  if (query.get("since")) params.set("since", query.get("since"));
  const report = await api("GET", `campaigns/${enc(id)}/report?${params}`);
  const charts = [];

  const stages = funnel(report);
  charts.push(chartFigure("Funnel", `${stages.map(([l, v]) => `${l} ${v}`).join(", ")}`, ["Stage", "Recipients", "Of targeted"],
    stages.map(([label, value]) => [label, value, stages[0][1] ? `${Math.round((100 * value) / stages[0][1])}%` : "—"]),
    { type: "bar", data: { labels: stages.map(([l]) => l), datasets: [{ data: stages.map(([, v]) => v), backgroundColor: COLORS.slice(0, 5) }] }, options: bars({ indexAxis: "y" }) }));

  if (Array.isArray(report.days) && report.days.length) {
    const days = report.days;
    const value = (day, key) => { const v = day.counts?.[key]; return typeof v === "object" && v ? unique(v) : Number(v) || 0; };
    charts.push(chartFigure("Over time", `per UTC day, ${days.length} day${days.length === 1 ? "" : "s"}`, ["Day", ...OVER_TIME],
      days.map((day) => [day.day, ...OVER_TIME.map((k) => value(day, k))]),
      { type: "bar", data: { labels: days.map((d) => d.day), datasets: OVER_TIME.map((k, i) => ({ label: k, data: days.map((d) => value(d, k)), backgroundColor: COLORS[i] })) },
        options: bars({ plugins: { legend: { display: true } } }) }));
  } else {
    const status = Object.entries(report.byStatus || {});
    charts.push(chartFigure("Outcomes", "recipients by their latest status (this API gives no per-day counts yet)", ["Status", "Recipients"], status,
      { type: "bar", data: { labels: status.map(([s]) => s), datasets: [{ data: status.map(([, v]) => v), backgroundColor: COLORS }] }, options: bars() }));
  }

  const why = reasons(report);
  charts.push(chartFigure("Exclusions and failures by reason", why.length ? why.map(([r, v]) => `${r} ${v}`).join(", ") : "none", ["Reason", "Recipients"], why,
    { type: "bar", data: { labels: why.map(([r]) => r), datasets: [{ data: why.map(([, v]) => v), backgroundColor: "#c0392b" }] }, options: bars({ indexAxis: "y" }) }));

  const locales = Object.entries(report.byLocale || {}).sort((a, b) => b[1] - a[1]);
  charts.push(chartFigure("By locale", locales.map(([l, v]) => `${l} ${v}`).join(", ") || "none", ["Locale", "Recipients"], locales,
    { type: "doughnut", data: { labels: locales.map(([l]) => l), datasets: [{ data: locales.map(([, v]) => v), backgroundColor: COLORS }] }, options: base({ plugins: { legend: { display: true, position: "bottom" } } }) }));

  // Opens and clicks as the tracking counts them: unique people, every hit, and machine hits (mail
  // scanners, privacy proxies) left out of both.
  const counts = report.counts;
  const engagement = counts && typeof counts.opened === "object" ? h("dl", { class: "facts engagement", "aria-label": "Engagement" },
    ["opened", "clicked"].map((kind) => [h("dt", {}, kind), h("dd", {}, `${counts[kind].unique} unique · ${counts[kind].total} in all · ${counts[kind].machine} by machines (not counted)`)]),
    h("dt", {}, "unsubscribed"), h("dd", {}, String(counts.unsubscribed ?? 0)),
    h("dt", {}, "complained"), h("dd", {}, String(counts.complained ?? 0))) : null;
  append(main, 
    h("div", { class: "page-head" }, h("h1", {}, `Report · ${campaign.name}`), h("span", { class: "links" }, h("a", { href: `#/campaigns/${enc(id)}` }, "Edit"), " ", h("a", { href: `#/campaigns/${enc(id)}/try` }, "Try it"))),
    h("p", { class: "muted" }, `${report.total} recipients with an outcome · generated ${formatTime(report.generatedAt)}${report.since ? ` · since ${formatTime(report.since)}` : ""}`),
    form,
    engagement,
    h("div", { class: "charts" }, charts.map((c) => c.figure)));
  const drawn = charts.map((c) => c.draw());
  return () => drawn.forEach((chart) => chart?.destroy());
}
