// The campaigns list: status, channel, tags, labels and last activity, filterable.
import { api, enc } from "./api.js";
import { h, clear, field, table, badge, formatTime, announce, append } from "./dom.js";

const STATUSES = ["", "draft", "scheduled", "live", "stopped", "completed", "archived"];
const CHANNELS = ["", "email", "sms", "push"];

function lastActivity(campaign) {
  return [campaign.updatedAt, campaign.activatedAt, campaign.createdAt].filter(Boolean).sort().pop();
}

export async function campaignsPage(main, { query }) {
  const status = h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, selected: query.get("status") === s }, s || "any")));
  const channel = h("select", { name: "channel" }, CHANNELS.map((s) => h("option", { value: s, selected: query.get("channel") === s }, s || "any")));
  const tag = h("input", { name: "tag", type: "text", value: query.get("tag") || "" });
  const text = h("input", { name: "q", type: "search", value: query.get("q") || "" });
  const results = h("div", { class: "results" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter campaigns", onsubmit: (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, control] of [["status", status], ["channel", channel], ["tag", tag], ["q", text]]) if (control.value) params.set(name, control.value);
      window.location.hash = `#/campaigns?${params}`;
    } },
    field({ label: "Status", control: status }),
    field({ label: "Channel", control: channel }),
    field({ label: "Tag", control: tag }),
    field({ label: "Name contains", control: text }),
    h("button", { type: "submit" }, "Filter"),
  );
  append(main, 
    h("div", { class: "page-head" }, h("h1", {}, "Campaigns"), h("a", { class: "button primary", href: "#/campaigns/new" }, "New campaign")),
    form,
    results,
  );

  const filters = new URLSearchParams({ limit: "50" });
  for (const name of ["status", "channel", "tag"]) if (query.get(name)) filters.set(name, query.get(name));
  const needle = (query.get("q") || "").toLowerCase();
  const rows = [];
  let nextToken = null;
  const more = h("button", { type: "button", onclick: () => load() }, "Load more");

  async function load() {
    const params = new URLSearchParams(filters);
    if (nextToken) params.set("nextToken", nextToken);
    const page = await api("GET", `campaigns?${params}`);
    nextToken = page.nextToken || null;
    rows.push(...page.items.filter((c) => !needle || c.name.toLowerCase().includes(needle)));
    draw();
    announce(`${rows.length} campaign${rows.length === 1 ? "" : "s"} shown`);
  }

  function draw() {
    clear(results);
    if (!rows.length) {
      append(results, h("p", { class: "empty" }, "No campaign matches. ", h("a", { href: "#/campaigns/new" }, "Create one"), "."));
    } else {
      append(results, table("Campaigns", [
        { label: "Name", value: (c) => h("a", { href: `#/campaigns/${enc(c.id)}` }, c.name) },
        { label: "Status", value: (c) => [badge(c.status), c.draftVersion ? h("span", { class: "note" }, ` draft v${c.draftVersion} pending`) : null] },
        { label: "Channel", value: (c) => `${c.channel} · ${c.type}` },
        { label: "Tags", value: (c) => (c.tags || []).map((t) => h("span", { class: "chip" }, t)) },
        { label: "Labels", value: (c) => (c.labels || []).map((t) => h("span", { class: "chip label" }, t)) },
        { label: "Last activity", value: (c) => h("time", { datetime: lastActivity(c) }, formatTime(lastActivity(c))) },
        { label: "Go to", value: (c) => h("span", { class: "links" },
          h("a", { href: `#/campaigns/${enc(c.id)}/try`, "aria-label": `Try ${c.name}` }, "Try it"), " ",
          h("a", { href: `#/campaigns/${enc(c.id)}/report`, "aria-label": `Report of ${c.name}` }, "Report")) },
      ], rows, { class: "list", id: "campaign-table" }));
    }
    if (nextToken) append(results, more);
  }

  await load();
}
