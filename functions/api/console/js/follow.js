// Following an execution's recipients to their final states (polling GET /im/executions/{id}),
// and each recipient's timeline: the states it was seen in, with when.
import { api, enc } from "./api.js";
import { h, clear, badge, formatTime, announce, append } from "./dom.js";

export const FINAL = new Set(["delivered", "opened", "clicked", "bounced", "complained", "failed", "excluded"]);
const PATH = ["queued", "sent", "delivered", "opened", "clicked"];
const RECENT = "campaignsConsole.recentExecutions";

export function remember(execution) {
  const recent = JSON.parse(sessionStorage.getItem(RECENT) || "[]").filter((e) => e.executionId !== execution.executionId);
  recent.unshift({ executionId: execution.executionId, campaignId: execution.campaignId, requestId: execution.requestId, at: new Date().toISOString() });
  sessionStorage.setItem(RECENT, JSON.stringify(recent.slice(0, 20)));
}
export function recentExecutions() {
  return JSON.parse(sessionStorage.getItem(RECENT) || "[]");
}

/** The steps a recipient went through, as far as its current status tells, with the times this page saw each. */
function timeline(recipient, seen) {
  const status = recipient.status;
  const steps = [];
  const reached = PATH.indexOf(status);
  if (reached >= 0) for (const step of PATH.slice(0, reached + 1)) steps.push(step);
  else if (status === "excluded") steps.push("excluded");
  else steps.push("queued", "sent", status); // bounced, complained: after sent; failed: after queued
  if (status === "failed") steps.splice(1, 1);
  return h("ol", { class: "timeline", "aria-label": `Timeline of ${recipient.userId}` }, steps.map((step) =>
    h("li", { class: step === status ? "current" : "done" }, badge(step),
      seen?.[step] ? h("time", { datetime: seen[step] }, ` ${formatTime(seen[step])}`) : null,
      step === status && recipient.reason ? h("span", { class: "reason" }, ` reason: `, h("code", {}, recipient.reason)) : null,
      step === status && recipient.detail ? h("span", { class: "detail" }, ` — ${recipient.detail}`) : null)));
}

/** Renders an execution into `container`; with follow, polls until every recipient is final. Returns stop(). */
export function followExecution(container, executionId, { follow = true, interval = 1000 } = {}) {
  let stopped = false;
  let handle = null;
  const seen = {}; // userId -> {status: first time seen}
  const state = h("p", { class: "follow-state", "aria-live": "polite" });
  const stopButton = h("button", { type: "button", onclick: () => stop("Stopped following") }, "Stop following");
  const body = h("div");
  append(clear(container), state, follow ? stopButton : null, body);

  function stop(message) {
    stopped = true;
    window.clearTimeout(handle);
    stopButton.remove();
    if (message) state.textContent = message;
  }

  async function poll() {
    let execution;
    try {
      execution = await api("GET", `im/executions/${enc(executionId)}?limit=1000`);
    } catch (error) {
      state.textContent = `Cannot read the execution: ${error.message} (${error.code})`;
      stop();
      return;
    }
    const recipients = execution.recipients || [];
    const now = new Date().toISOString();
    for (const recipient of recipients) {
      const mine = (seen[recipient.userId] ||= {});
      mine[recipient.status] ||= recipient.updatedAt || now;
    }
    draw(execution, recipients);
    const audiencePending = execution.status && !["completed", "cancelled", "failed"].includes(execution.status) && !recipients.length;
    const allFinal = recipients.length > 0 && recipients.every((r) => FINAL.has(r.status));
    if (allFinal || (!follow && !audiencePending)) {
      stop(allFinal ? `All ${recipients.length} recipients reached a final state` : "");
      if (allFinal) announce(`Execution finished: every recipient reached a final state`);
      return;
    }
    if (!stopped) {
      state.textContent = `Following: ${recipients.filter((r) => FINAL.has(r.status)).length} of ${recipients.length} final, refreshed ${new Date().toLocaleTimeString()}`;
      handle = window.setTimeout(poll, interval);
    }
  }

  function draw(execution, recipients) {
    clear(body);
    const counts = Object.entries(execution.counts || {}).map(([k, v]) => h("li", {}, h("span", {}, k), " ", h("strong", {}, String(v))));
    append(body, 
      h("dl", { class: "facts" },
        h("dt", {}, "Execution"), h("dd", {}, h("code", {}, execution.executionId)),
        h("dt", {}, "Request"), h("dd", {}, h("code", {}, execution.requestId || "")),
        h("dt", {}, "Campaign"), h("dd", {}, h("a", { href: `#/campaigns/${enc(execution.campaignId)}` }, execution.campaignId)),
        h("dt", {}, "Status"), h("dd", {}, badge(execution.status || "")),
        execution.createdAt ? [h("dt", {}, "Created"), h("dd", {}, formatTime(execution.createdAt))] : null),
      h("ul", { class: "counts", "aria-label": "Recipients by status" }, counts),
      h("table", { class: "recipients", id: "recipients" },
        h("caption", {}, "Recipients"),
        h("thead", {}, h("tr", {}, ["Recipient", "Status", "Reason", "Locale", "Updated", "Timeline"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, recipients.map((r) => h("tr", { dataset: { user: r.userId, status: r.status } },
          h("th", { scope: "row" }, r.userId),
          h("td", {}, badge(r.status)),
          h("td", {}, r.reason ? h("code", {}, r.reason) : "", r.detail ? h("div", { class: "detail" }, r.detail) : null),
          h("td", {}, r.locale || ""),
          h("td", {}, formatTime(r.updatedAt)),
          h("td", {}, h("details", {}, h("summary", {}, `Timeline of ${r.userId}`), timeline(r, seen[r.userId]))))))),
      execution.nextToken ? h("p", { class: "note" }, "More recipients exist than shown here (the first 1,000).") : null,
    );
  }

  poll();
  return () => stop();
}
