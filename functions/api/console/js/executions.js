// The executions explorer: find an execution by executionId, or by campaign and requestId; each
// recipient's timeline and reason codes; audience executions (start, dry run) and schedules (cancel).
import { api, enc } from "./api.js";
import { h, clear, field, announce, formatTime, badge, append } from "./dom.js";
import { followExecution, recentExecutions, remember } from "./follow.js";

export async function executionsPage(main, { query }) {
  const out = h("section", { id: "execution", "aria-label": "Execution", tabindex: "-1" });
  let stop = null;
  const open = (executionId) => {
    if (stop) stop();
    stop = followExecution(out, executionId);
    out.focus();
  };

  const executionId = h("input", { type: "text", name: "executionId", value: query.get("executionId") || "", spellcheck: "false" });
  const byId = h("form", { class: "card", "aria-label": "Find by execution id", onsubmit: (event) => {
    event.preventDefault();
    if (executionId.value.trim()) window.location.hash = `#/executions?executionId=${enc(executionId.value.trim())}`;
  } }, h("h2", {}, "By execution id"), field({ label: "Execution id", control: executionId }), h("button", { type: "submit" }, "Find"));

  const campaignId = h("input", { type: "text", name: "campaignId", value: query.get("campaignId") || "", spellcheck: "false" });
  const requestId = h("input", { type: "text", name: "requestId", value: query.get("requestId") || "", spellcheck: "false" });
  const byRequestError = h("p", { class: "error", role: "alert" });
  const byRequest = h("form", { class: "card", "aria-label": "Find by request id", onsubmit: async (event) => {
    event.preventDefault();
    byRequestError.textContent = "";
    try {
      const found = await api("GET", `im/executions?campaignId=${enc(campaignId.value.trim())}&requestId=${enc(requestId.value.trim())}`);
      window.location.hash = `#/executions?executionId=${enc(found.executionId)}`;
    } catch (error) {
      byRequestError.textContent = `${error.message} (${error.code})`;
    }
  } }, h("h2", {}, "By request id"), field({ label: "Campaign id", control: campaignId }), field({ label: "Request id", control: requestId }), byRequestError, h("button", { type: "submit" }, "Find"));

  // Audience executions: start one (or a dry run, or a scheduled one), and read or cancel a schedule.
  const audCampaign = h("input", { type: "text", name: "audienceCampaignId", spellcheck: "false" });
  const audience = h("input", { type: "text", name: "audienceId", spellcheck: "false" });
  const executeAt = h("input", { type: "text", name: "executeAt", placeholder: "2026-12-02T09:00:00Z (empty: now)" });
  const dryRun = h("input", { type: "checkbox", id: "dry-run", checked: true });
  const audienceOut = h("div", { "aria-live": "polite" });
  const audienceForm = h("form", { class: "card", "aria-label": "Audience execution", onsubmit: async (event) => {
    event.preventDefault();
    clear(audienceOut);
    const body = { campaignId: audCampaign.value.trim(), audience: { id: audience.value.trim() }, dryRun: dryRun.checked };
    if (executeAt.value.trim()) body.schedule = { executeAt: executeAt.value.trim() };
    try {
      const answer = await api("POST", "im/executions/audience", body);
      if (answer.executionId) { remember({ ...answer }); window.location.hash = `#/executions?executionId=${enc(answer.executionId)}`; return; }
      if (answer.scheduleId) { scheduleId.value = answer.scheduleId; await showSchedule(); return; }
      append(audienceOut, h("h3", {}, "Dry run"), h("pre", { class: "code" }, JSON.stringify(answer, null, 2)));
    } catch (error) {
      append(audienceOut, h("p", { class: "error", role: "alert" }, `${error.message} (${error.code})`),
        h("ul", {}, error.errors.map((e) => h("li", {}, h("code", {}, e.field), `: ${e.message}`))));
    }
  } }, h("h2", {}, "Audience execution"),
  field({ label: "Campaign id (marketing, live)", control: audCampaign }), field({ label: "Audience id", control: audience }),
  field({ label: "Execute at", control: executeAt }),
  h("div", { class: "field check" }, dryRun, h("label", { for: "dry-run" }, "Dry run: count and exclusions only, nothing sent")),
  h("button", { type: "submit" }, "Start"), audienceOut);

  const scheduleId = h("input", { type: "text", name: "scheduleId", spellcheck: "false", value: query.get("scheduleId") || "" });
  const scheduleOut = h("div", { "aria-live": "polite", id: "schedule" });
  async function showSchedule() {
    clear(scheduleOut);
    try {
      const schedule = await api("GET", `im/executions/schedules/${enc(scheduleId.value.trim())}`);
      append(scheduleOut, h("dl", { class: "facts" }, Object.entries(schedule).map(([k, v]) => [h("dt", {}, k), h("dd", {}, k === "status" ? badge(v) : typeof v === "object" ? JSON.stringify(v) : String(v))])),
        schedule.status === "scheduled" ? h("button", { type: "button", class: "danger", onclick: async () => {
          if (!window.confirm("Cancel this scheduled execution?")) return;
          try { await api("DELETE", `im/executions/schedules/${enc(scheduleId.value.trim())}`); announce("Schedule cancelled"); await showSchedule(); } catch (error) { append(scheduleOut, h("p", { class: "error", role: "alert" }, error.message)); }
        } }, "Cancel the schedule") : null,
        schedule.executionId ? h("button", { type: "button", onclick: () => { window.location.hash = `#/executions?executionId=${enc(schedule.executionId)}`; } }, "Open its execution") : null);
    } catch (error) {
      append(scheduleOut, h("p", { class: "error", role: "alert" }, `${error.message} (${error.code})`));
    }
  }
  const scheduleForm = h("form", { class: "card", "aria-label": "Scheduled audience execution", onsubmit: (event) => { event.preventDefault(); showSchedule(); } },
    h("h2", {}, "Scheduled audience execution"), field({ label: "Schedule id", control: scheduleId }), h("button", { type: "submit" }, "Find"), scheduleOut);

  const recent = recentExecutions();
  append(main, h("h1", {}, "Executions"),
    h("div", { class: "grid" }, byId, byRequest),
    recent.length ? h("section", { class: "card" }, h("h2", {}, "Sent from this tab"), h("ul", {}, recent.map((e) => h("li", {},
      h("a", { href: `#/executions?executionId=${enc(e.executionId)}` }, h("code", {}, e.executionId)), ` · request ${e.requestId || "—"} · ${formatTime(e.at)}`)))) : null,
    out,
    h("div", { class: "grid" }, audienceForm, scheduleForm));
  if (query.get("executionId")) open(query.get("executionId"));
  if (query.get("scheduleId")) showSchedule();
  return () => { if (stop) stop(); };
}
