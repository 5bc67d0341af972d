// Try it: the campaign's ready cURL, and a form that sends a real trigger and follows it.
import { api, enc } from "./api.js";
import { h, clear, field, announce, badge, append } from "./dom.js";
import { followExecution, remember } from "./follow.js";

export async function tryItPage(main, { params: [id] }) {
  const campaign = await api("GET", `campaigns/${enc(id)}`);
  const example = await api("GET", `campaigns/${enc(id)}/trigger-request`);
  const curl = h("pre", { class: "code curl", id: "curl", tabindex: "0" }, example.curl);
  const copy = h("button", { type: "button", onclick: async () => {
    try { await navigator.clipboard.writeText(example.curl); announce("cURL copied"); } catch { announce("Select the text and copy it"); }
  } }, "Copy cURL");
  const body = h("textarea", { rows: 16, class: "code", spellcheck: "false", id: "trigger-body" });
  body.value = JSON.stringify({ ...example.body, requestId: `console-${Date.now()}` }, null, 2);
  const answer = h("section", { class: "answer", "aria-label": "Trigger answer", id: "trigger-answer", tabindex: "-1" });
  const followed = h("section", { class: "followed", "aria-label": "Execution", id: "followed" });
  let stop = null;

  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    if (stop) stop();
    clear(answer);
    clear(followed);
    let payload;
    try { payload = JSON.parse(body.value); } catch (error) {
      append(answer, h("p", { class: "error", role: "alert" }, `The body is not valid JSON: ${error.message}`));
      return;
    }
    try {
      const accepted = await api("POST", "im/executions/unitary", payload);
      remember(accepted);
      append(answer, h("h2", {}, "Accepted"), h("p", {}, "Execution ", h("a", { href: `#/executions?executionId=${enc(accepted.executionId)}` }, h("code", {}, accepted.executionId))),
        h("ul", { class: "verdicts" }, accepted.recipients.map((r) => h("li", {}, r.userId, " ", badge(r.status), r.reason ? h("code", {}, ` ${r.reason}`) : null, r.detail ? ` — ${r.detail}` : ""))));
      announce(`Trigger accepted: ${accepted.recipients.filter((r) => r.status === "accepted").length} recipients queued`);
      stop = followExecution(followed, accepted.executionId);
      // A new requestId for the next send: the same one would replay this answer.
      body.value = JSON.stringify({ ...payload, requestId: `console-${Date.now()}` }, null, 2);
    } catch (error) {
      append(answer, h("div", { class: "alert", role: "alert" }, h("h2", {}, "Refused"), h("p", {}, `${error.message} (${error.code})`),
        error.errors.length ? h("ul", {}, error.errors.map((e) => h("li", {}, h("code", {}, e.field), `: ${e.message}`))) : null));
    }
    answer.focus();
  } },
  h("h2", {}, "Send a trigger"),
  h("p", {}, campaign.status === "live" ? "This sends real messages to the recipients below." : `The campaign is ${campaign.status}: triggers are refused until it is live.`),
  field({ label: "Trigger body (POST /im/executions/unitary)", control: body, hint: "Edit the recipients, their profile and context; requestId makes the call idempotent" }),
  h("button", { type: "submit", class: "primary" }, "Send trigger"));

  append(main, 
    h("div", { class: "page-head" }, h("h1", {}, `Try ${campaign.name}`), h("span", { class: "links" }, h("a", { href: `#/campaigns/${enc(id)}` }, "Edit"), " ", h("a", { href: `#/campaigns/${enc(id)}/report` }, "Report"))),
    h("section", { class: "card" }, h("h2", {}, "Ready cURL"), h("p", {}, "Set API_KEY in your shell first."), curl, copy),
    form, answer, followed);
  return () => { if (stop) stop(); };
}
