// Creating and editing a campaign: every property, a content editor per locale with a live preview
// beside it (saved as a draft, then POST /campaigns/{id}/preview), review results next to their
// fields, the lifecycle, and a live campaign's pending draft shown beside the live version.
import { api, enc, ApiError } from "./api.js";
import { h, clear, field, badge, announce, formatTime, table, append } from "./dom.js";
import { showIssues, clearIssues, summary } from "./issues.js";
import { renderPreview } from "./preview.js";
import { sampleContext, sampleProfile } from "./samples.js";

const LOCALE_PARTS = {
  email: [["subject", "Subject", "input"], ["html", "HTML", "textarea"], ["text", "Text part (optional: derived from the HTML)", "textarea"]],
  sms: [["body", "Message", "textarea"]],
  push: [["title", "Title", "input"], ["body", "Body", "textarea"], ["data", "Data (JSON object of strings)", "textarea"]],
};

export async function newCampaignPage(main) {
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 200 });
  const channel = h("select", { name: "channel" }, ["email", "sms", "push"].map((c) => h("option", { value: c }, c)));
  const type = h("select", { name: "type" }, ["transactional", "marketing"].map((c) => h("option", { value: c }, c)));
  const errors = h("div", { class: "issues", role: "alert" });
  append(main, h("h1", {}, "New campaign"), h("form", { class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    clear(errors);
    try {
      const created = await api("POST", "campaigns", {
        name: name.value.trim(), channel: channel.value, type: type.value,
        content: { defaultLocale: "en-US", locales: { "en-US": {} } },
      });
      announce(`Created ${created.name}`);
      window.location.hash = `#/campaigns/${enc(created.id)}`;
    } catch (error) {
      append(errors, h("p", { class: "error" }, error.message));
    }
  } },
  field({ label: "Name", control: name, field: "name" }),
  field({ label: "Channel", control: channel, hint: "Fixed once created" }),
  field({ label: "Type", control: type, hint: "Marketing campaigns honour consent, frequency caps and quiet hours; fixed once created" }),
  errors,
  h("button", { type: "submit", class: "primary" }, "Create draft")));
}

const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
const orNull = (text) => (text.trim() === "" ? null : text);

function input(value, attrs = {}) {
  return h("input", { type: "text", value: value ?? "", ...attrs });
}
function area(value, attrs = {}) {
  const element = h("textarea", { rows: 4, spellcheck: "false", ...attrs });
  element.value = value ?? "";
  return element;
}
function check(value, attrs = {}) {
  return h("input", { type: "checkbox", checked: Boolean(value), ...attrs });
}
function checkField(label, control, fieldName) {
  control.id = control.id || `c-${fieldName.replace(/\W/g, "-")}`;
  return h("div", { class: "field check", dataset: { field: fieldName } }, control, h("label", { for: control.id }, label), h("div", { class: "issues" }));
}
function json(value) {
  return value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
}

export async function editorPage(main, { params: [id] }) {
  let live = await api("GET", `campaigns/${enc(id)}`);
  let doc = live.draftVersion ? await api("GET", `campaigns/${enc(id)}?version=draft`) : live;
  const channel = live.channel;

  // ---- the form
  const c = {
    name: input(doc.name, { required: true, maxlength: 200 }),
    description: area(doc.description, { rows: 2 }),
    tags: input((doc.tags || []).join(", ")),
    labels: input((doc.labels || []).join(", ")),
    fromEmail: input(doc.sender?.fromEmail, { type: "email" }),
    fromName: input(doc.sender?.fromName),
    replyTo: input(doc.sender?.replyTo, { type: "email" }),
    originationIdentity: input(doc.sender?.originationIdentity),
    namespace: input(doc.audience?.namespace || "email"),
    createProfiles: check(doc.audience?.createProfiles),
    audienceId: input(doc.audience?.audienceId),
    start: input(doc.schedule?.start, { placeholder: "2026-12-01T09:00:00Z" }),
    end: input(doc.schedule?.end, { placeholder: "2026-12-31T23:59:59Z" }),
    mps: input(doc.throttle?.messagesPerSecond, { type: "number", min: 1, max: 20000, inputmode: "numeric" }),
    opens: check(doc.tracking?.opens),
    clicks: check(doc.tracking?.clicks),
    quiet: check(Boolean(doc.quietHours)),
    quietStart: input(doc.quietHours?.start, { placeholder: "21:00" }),
    quietEnd: input(doc.quietHours?.end, { placeholder: "08:00" }),
    quietZone: input(doc.quietHours?.timezone, { placeholder: "Europe/Lisbon" }),
    quietAction: h("select", {}, ["defer", "discard"].map((a) => h("option", { value: a, selected: doc.quietHours?.action === a }, a))),
    webhookUrl: input(doc.webhook?.url, { type: "url" }),
    webhookEvents: input((doc.webhook?.events || []).join(", ")),
    contextSchema: area(json(doc.contextSchema), { rows: 6 }),
    defaultLocale: input(doc.content?.defaultLocale || "en-US"),
    fallback: check(doc.content?.fallback !== false),
  };
  const locales = new Map(); // locale -> {part: control}
  const removed = new Set();
  const localeSections = h("div", { class: "locales" });
  const localePicker = h("select", { id: "editing-locale" });
  const previewLocale = h("select", { id: "preview-locale" });

  function addLocale(locale, content = {}) {
    const controls = {};
    const parts = LOCALE_PARTS[channel].map(([part, label, kind]) => {
      const value = part === "data" ? json(content.data) : content[part];
      const control = kind === "textarea" ? area(value, { rows: part === "html" ? 12 : 4, class: "code" }) : input(value);
      controls[part] = control;
      return field({ label: `${label} · ${locale}`, control, field: `content.locales.${locale}.${part}` });
    });
    locales.set(locale, controls);
    removed.delete(locale);
    const removeButton = h("button", { type: "button", class: "quiet", onclick: () => {
      if (locales.size === 1) { announce("A campaign keeps at least one locale"); return; }
      locales.delete(locale);
      removed.add(locale);
      section.remove();
      refreshLocalePickers(locales.keys().next().value);
      changed();
    } }, `Remove ${locale}`);
    const section = h("fieldset", { class: "locale", dataset: { locale } }, h("legend", {}, `Content · ${locale}`), parts, removeButton);
    append(localeSections, section);
  }
  for (const [locale, content] of Object.entries(doc.content?.locales || {})) addLocale(locale, content || {});
  if (!locales.size) addLocale(doc.content?.defaultLocale || "en-US");

  function refreshLocalePickers(selected = localePicker.value) {
    for (const picker of [localePicker, previewLocale]) {
      const keep = picker === previewLocale ? previewLocale.value || selected : selected;
      clear(picker);
      for (const locale of locales.keys()) append(picker, h("option", { value: locale, selected: locale === keep }, locale));
    }
    showLocale(localePicker.value);
  }
  function showLocale(locale) {
    for (const section of localeSections.children) section.hidden = section.dataset.locale !== locale;
  }
  localePicker.addEventListener("change", () => { showLocale(localePicker.value); previewLocale.value = localePicker.value; schedulePreview(0); });
  const newLocale = input("", { placeholder: "pt-BR", pattern: "[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*" });
  const addLocaleButton = h("button", { type: "button", onclick: () => {
    const locale = newLocale.value.trim();
    if (!locale || locales.has(locale)) { announce(locale ? `${locale} is already there` : "Type a locale first"); return; }
    addLocale(locale);
    newLocale.value = "";
    refreshLocalePickers(locale);
    locales.get(locale)[LOCALE_PARTS[channel][0][0]].focus();
    changed();
  } }, "Add locale");

  function reveal(block) {
    const section = block.closest("fieldset.locale");
    if (section && section.hidden) { localePicker.value = section.dataset.locale; showLocale(section.dataset.locale); }
  }

  // ---- what a save sends: every property (a JSON merge patch; null removes)
  function collect() {
    const patch = {
      name: c.name.value.trim(),
      description: orNull(c.description.value),
      tags: list(c.tags.value),
      labels: list(c.labels.value),
      audience: { namespace: c.namespace.value.trim() || "email", createProfiles: c.createProfiles.checked, audienceId: orNull(c.audienceId.value.trim()) },
      schedule: c.start.value.trim() || c.end.value.trim() ? { start: orNull(c.start.value.trim()), end: orNull(c.end.value.trim()) } : null,
      throttle: c.mps.value ? { messagesPerSecond: Number(c.mps.value) } : null,
    };
    if (channel === "email") {
      patch.sender = { fromEmail: orNull(c.fromEmail.value.trim()), fromName: orNull(c.fromName.value), replyTo: orNull(c.replyTo.value.trim()) };
      patch.tracking = { opens: c.opens.checked, clicks: c.clicks.checked };
    } else if (channel === "sms") {
      patch.sender = { originationIdentity: orNull(c.originationIdentity.value.trim()) };
    }
    if (live.type === "marketing") {
      patch.quietHours = c.quiet.checked
        ? { start: c.quietStart.value.trim(), end: c.quietEnd.value.trim(), timezone: orNull(c.quietZone.value.trim()), action: c.quietAction.value }
        : null;
    }
    // No events named: all of them (null removes a stored list; the API's default is every event).
    const events = list(c.webhookEvents.value);
    patch.webhook = c.webhookUrl.value.trim() ? { url: c.webhookUrl.value.trim(), events: events.length ? events : null } : null;
    const problems = [];
    patch.contextSchema = null;
    if (c.contextSchema.value.trim()) {
      try { patch.contextSchema = JSON.parse(c.contextSchema.value); } catch (error) { problems.push({ field: "contextSchema", message: `not valid JSON: ${error.message}` }); }
    }
    const localeContent = {};
    for (const [locale, controls] of locales) {
      const content = {};
      for (const [part, control] of Object.entries(controls)) {
        if (part === "data") {
          content.data = null;
          if (control.value.trim()) {
            try { content.data = JSON.parse(control.value); } catch (error) { problems.push({ field: `content.locales.${locale}.data`, message: `not valid JSON: ${error.message}` }); }
          }
        } else content[part] = orNull(control.value);
      }
      localeContent[locale] = content;
    }
    for (const locale of removed) localeContent[locale] = null;
    patch.content = { defaultLocale: c.defaultLocale.value.trim() || "en-US", fallback: c.fallback.checked, locales: localeContent };
    return { patch, problems };
  }

  // ---- the page
  const statusLine = h("p", { class: "campaign-status", "aria-live": "polite" });
  const saveState = h("span", { class: "save-state", id: "save-state", "aria-live": "polite" });
  const reviewBox = h("section", { class: "review-summary", "aria-label": "Review results", id: "review-summary", tabindex: "-1" });
  const formErrors = h("div", { class: "form-errors", role: "alert" });
  const sideBySide = h("section", { class: "versions", "aria-label": "Draft beside the live version" });
  const auto = check(true, { id: "autosave" });
  // A webhook's signing secret is shown once, in the answer that made it: kept on screen until the page closes.
  const secretBox = h("div", { class: "secret", "aria-live": "polite", id: "webhook-secret" });
  function showSecret(secret) {
    append(clear(secretBox), h("p", {}, h("strong", {}, "Signing secret (shown this once; store it now): "), h("code", { tabindex: "0" }, secret)),
      h("button", { type: "button", onclick: async () => {
        try { await navigator.clipboard.writeText(secret); announce("Secret copied"); } catch { announce("Select the secret and copy it"); }
      } }, "Copy the secret"));
    announce("A new webhook signing secret is shown once, beside the webhook");
  }
  async function rotateSecret() {
    if (!window.confirm("Make a new signing secret? The current one stops signing within seconds.")) return;
    try { showSecret((await api("POST", `campaigns/${enc(id)}/webhook/secret`)).secret); } catch (error) { placeError(error); }
  }

  const form = h("form", { class: "editor-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); save(); } },
    h("fieldset", {}, h("legend", {}, "Properties"),
      field({ label: "Name", control: c.name, field: "name" }),
      field({ label: "Description", control: c.description, field: "description" }),
      field({ label: "Tags", control: c.tags, field: "tags", hint: "Comma-separated" }),
      field({ label: "Access labels", control: c.labels, field: "labels", hint: "Comma-separated; keys limited to labels reach only these campaigns" })),
    channel === "email" ? h("fieldset", {}, h("legend", {}, "Sender"),
      field({ label: "From address", control: c.fromEmail, field: "sender.fromEmail", hint: "A verified SES identity" }),
      field({ label: "From name", control: c.fromName, field: "sender.fromName" }),
      field({ label: "Reply-to", control: c.replyTo, field: "sender.replyTo" })) : null,
    channel === "sms" ? h("fieldset", {}, h("legend", {}, "Sender"),
      field({ label: "Origination identity", control: c.originationIdentity, field: "sender.originationIdentity" })) : null,
    h("fieldset", {}, h("legend", {}, "Content"),
      field({ label: "Default locale", control: c.defaultLocale, field: "content.defaultLocale" }),
      checkField("Send the default locale when a recipient's language has no content", c.fallback, "content.fallback"),
      field({ label: "Editing locale", control: localePicker }),
      h("div", { class: "inline" }, field({ label: "New locale", control: newLocale }), addLocaleButton),
      localeSections),
    h("fieldset", {}, h("legend", {}, "Audience"),
      field({ label: "Identity namespace", control: c.namespace, field: "audience.namespace" }),
      checkField("Create profiles for unknown recipients", c.createProfiles, "audience.createProfiles"),
      field({ label: "Audience id (marketing sends to an audience)", control: c.audienceId, field: "audience.audienceId" })),
    h("fieldset", {}, h("legend", {}, "Schedule and pacing"),
      field({ label: "Start (ISO-8601)", control: c.start, field: "schedule.start" }),
      field({ label: "End (ISO-8601)", control: c.end, field: "schedule.end" }),
      field({ label: "Messages per second", control: c.mps, field: "throttle.messagesPerSecond" }),
      live.type === "marketing" ? h("div", { class: "group" },
        checkField("Quiet hours", c.quiet, "quietHours"),
        field({ label: "Quiet from (HH:MM)", control: c.quietStart, field: "quietHours.start" }),
        field({ label: "Quiet until (HH:MM)", control: c.quietEnd, field: "quietHours.end" }),
        field({ label: "Time zone when the recipient's is unknown", control: c.quietZone, field: "quietHours.timezone" }),
        field({ label: "During quiet hours", control: c.quietAction, field: "quietHours.action" })) : null),
    channel === "email" ? h("fieldset", {}, h("legend", {}, "Tracking"),
      checkField("Track opens", c.opens, "tracking.opens"), checkField("Track clicks", c.clicks, "tracking.clicks")) : null,
    h("fieldset", {}, h("legend", {}, "Feedback webhook"),
      field({ label: "URL", control: c.webhookUrl, field: "webhook.url", hint: "https:// on a public host" }),
      field({ label: "Events", control: c.webhookEvents, field: "webhook.events", hint: "Comma-separated: sent, delivered, bounced, complained, opened, clicked, failed (empty: all)" }),
      h("button", { type: "button", onclick: rotateSecret }, "New signing secret"),
      secretBox),
    h("fieldset", {}, h("legend", {}, "Context schema"),
      field({ label: "contextSchema (JSON Schema every recipient's context must satisfy)", control: c.contextSchema, field: "contextSchema" })),
    formErrors,
    h("div", { class: "actions sticky" }, h("button", { type: "submit", class: "primary" }, "Save"), saveState),
  );

  // ---- preview pane
  const profileBox = area(json(sampleProfile(doc)), { rows: 5, class: "code" });
  const contextBox = area(json(sampleContext(doc)), { rows: 5, class: "code" });
  const previewOut = h("div", { class: "preview-out", id: "preview-out", "aria-live": "polite" });
  const previewPane = h("aside", { class: "preview-pane", "aria-label": "Live preview" },
    h("h2", {}, "Preview"),
    field({ label: "Locale", control: previewLocale }),
    field({ label: "Sample profile (JSON)", control: profileBox, field: "profile", hint: "What templates see as profile.*" }),
    field({ label: "Sample context (JSON)", control: contextBox, field: "context", hint: "Prefilled from the contextSchema, or from the context.* the templates use" }),
    checkField("Save and preview as I type", auto, "autosave"),
    h("button", { type: "button", onclick: () => preview() }, "Refresh preview"),
    previewOut);

  const heading = h("h1", {}, live.name);
  const buttons = h("div", { class: "actions lifecycle", role: "group", "aria-label": "Lifecycle" });
  append(main, 
    h("div", { class: "page-head" }, heading,
      h("span", { class: "links" }, h("a", { href: `#/campaigns/${enc(id)}/try` }, "Try it"), " ", h("a", { href: `#/campaigns/${enc(id)}/report` }, "Report"))),
    statusLine, buttons, reviewBox, sideBySide,
    h("div", { class: "editor" }, form, previewPane));
  refreshLocalePickers(localePicker.value || locales.keys().next().value);

  function drawStatus() {
    heading.textContent = live.name;
    append(clear(statusLine), badge(live.status), ` ${live.type} ${live.channel} · version ${live.version}`,
      live.liveVersion ? ` · live v${live.liveVersion}` : "", live.draftVersion ? ` · draft v${live.draftVersion} pending (activate to replace the live version)` : "",
      ` · updated ${formatTime(live.updatedAt)}`);
    clear(buttons);
    const can = {
      review: true,
      activate: live.status === "draft" || Boolean(live.draftVersion),
      stop: live.status === "live" || live.status === "scheduled",
      archive: live.status !== "draft" && live.status !== "archived",
      duplicate: true,
      delete: live.status === "draft",
    };
    const act = (label, handler, enabled) => h("button", { type: "button", disabled: !enabled, onclick: handler }, label);
    append(buttons, 
      act("Review", review, can.review),
      act(live.draftVersion ? "Activate the draft" : "Activate", activate, can.activate),
      act("Stop", () => lifecycle("stop", "Stop this campaign? Triggers will be refused."), can.stop),
      act("Archive", () => lifecycle("archive", "Archive this campaign?"), can.archive),
      act("Duplicate", duplicate, can.duplicate),
      act("Delete", remove, can.delete));
  }

  async function reload() {
    live = await api("GET", `campaigns/${enc(id)}`);
    doc = live.draftVersion ? await api("GET", `campaigns/${enc(id)}?version=draft`) : live;
    drawStatus();
    drawVersions();
  }

  function drawVersions() {
    clear(sideBySide);
    if (!live.draftVersion || doc === live) return;
    const rows = [];
    const flat = (value, prefix, out) => {
      if (value && typeof value === "object" && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) flat(v, prefix ? `${prefix}.${k}` : k, out);
      else out[prefix] = value;
      return out;
    };
    const skip = new Set(["version", "status", "updatedAt", "createdAt", "liveVersion", "draftVersion", "activatedAt"]);
    const a = flat(live, "", {});
    const b = flat(doc, "", {});
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (skip.has(key) || JSON.stringify(a[key]) === JSON.stringify(b[key])) continue;
      rows.push({ key, live: a[key], draft: b[key] });
    }
    const show = (value) => (value === undefined ? "—" : h("code", { class: "clip" }, typeof value === "string" ? value : JSON.stringify(value)));
    append(sideBySide, h("h2", {}, `Draft v${doc.version} beside live v${live.liveVersion || live.version}`),
      rows.length ? table("What the draft changes", [
        { label: "Property", value: (r) => r.key },
        { label: `Live v${live.liveVersion || live.version}`, value: (r) => show(r.live) },
        { label: `Draft v${doc.version}`, value: (r) => show(r.draft) },
      ], rows, { class: "diff" }) : h("p", {}, "The draft is the same as the live version so far."));
  }

  // ---- saving, previewing, reviewing
  let saving = Promise.resolve();
  let dirty = false;
  let timer = null;

  function changed(event) {
    // Choosing which locale to edit, or typing a new locale's name, changes nothing yet.
    if (event && (event.target === localePicker || event.target === newLocale)) return;
    dirty = true;
    saveState.textContent = "Unsaved changes";
    if (auto.checked) schedulePreview(700);
  }
  function schedulePreview(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => { if (dirty) await save({ quiet: true }); await preview(); }, delay);
  }
  form.addEventListener("input", changed);
  for (const box of [profileBox, contextBox]) box.addEventListener("input", () => { if (auto.checked) schedulePreview(500); });
  previewLocale.addEventListener("change", () => preview());

  function save({ quiet = false } = {}) {
    saving = saving.then(async () => {
      clearIssues(form, ["error"]);
      clear(formErrors);
      const { patch, problems } = collect();
      if (problems.length) { showIssues(form, problems, "error", { reveal }); saveState.textContent = "Not saved: fix the fields marked"; return false; }
      try {
        const answer = await api("PATCH", `campaigns/${enc(id)}`, patch);
        if (answer?.webhookSecret) showSecret(answer.webhookSecret);
        dirty = false;
        await reload();
        saveState.textContent = `Saved ${live.draftVersion ? `draft v${doc.version}` : `v${live.version}`} at ${new Date().toLocaleTimeString()}`;
        if (!quiet) announce("Saved");
        return true;
      } catch (error) {
        saveState.textContent = "Not saved";
        placeError(error);
        return false;
      }
    });
    return saving;
  }

  function placeError(error) {
    const errors = error instanceof ApiError ? error.errors : [];
    const unplaced = showIssues(form, errors, "error", { reveal });
    append(formErrors, h("p", { class: "error" }, `${error.message}${error.code ? ` (${error.code})` : ""}`),
      unplaced.length ? h("ul", {}, unplaced.map((e) => h("li", {}, `${e.field}: ${e.message}`))) : null);
  }

  async function preview() {
    clearIssues(previewPane);
    clearIssues(form, ["error"]);
    let profile;
    let context;
    try {
      profile = profileBox.value.trim() ? JSON.parse(profileBox.value) : {};
      context = contextBox.value.trim() ? JSON.parse(contextBox.value) : {};
    } catch (error) {
      showIssues(previewPane, [{ field: profile === undefined ? "profile" : "context", message: `not valid JSON: ${error.message}` }], "error");
      return;
    }
    try {
      const result = await api("POST", `campaigns/${enc(id)}/preview`, { profile, context, locale: previewLocale.value || undefined });
      append(clear(previewOut), renderPreview(result));
    } catch (error) {
      append(clear(previewOut), h("div", { class: "alert", role: "alert" }, h("p", {}, h("strong", {}, "Cannot render: "), error.message, ` (${error.code})`)));
      const rest = showIssues(form, error.errors.filter((e) => e.field.startsWith("content")), "error", { reveal });
      showIssues(previewPane, error.errors.filter((e) => !e.field.startsWith("content")).concat(rest), "error");
    }
  }

  async function review() {
    if (dirty && !(await save({ quiet: true }))) return null;
    clearIssues(form);
    const result = await api("POST", `campaigns/${enc(id)}/review`);
    showIssues(form, result.errors, "error", { reveal });
    showIssues(form, result.warnings, "warning", { reveal });
    const all = [...result.errors.map((e) => ({ ...e, kind: "error" })), ...result.warnings.map((e) => ({ ...e, kind: "warning" }))];
    summary(reviewBox, result.ok ? `Review passed${all.length ? " with warnings" : ""}` : `Review found ${result.errors.length} error${result.errors.length === 1 ? "" : "s"}`, all, form, reveal);
    if (result.ok && !all.length) append(reviewBox, h("h3", {}, "Review passed: ready to activate"));
    announce(result.ok ? "Review passed" : `Review found ${result.errors.length} errors`);
    reviewBox.focus();
    return result;
  }

  async function activate() {
    if (dirty && !(await save({ quiet: true }))) return;
    try {
      await api("POST", `campaigns/${enc(id)}/activate`);
      clearIssues(form);
      append(clear(reviewBox), h("h3", {}, "Activated"));
      await reload();
      announce(`Campaign is ${live.status}`);
    } catch (error) {
      if (error.errors.length) {
        clearIssues(form);
        showIssues(form, error.errors, "error", { reveal });
        summary(reviewBox, "Activation refused: fix these first", error.errors.map((e) => ({ ...e, kind: "error" })), form, reveal);
        reviewBox.focus();
      } else placeError(error);
      announce(`Activation refused: ${error.message}`);
    }
  }

  async function lifecycle(action, question) {
    if (!window.confirm(question)) return;
    try {
      await api("POST", `campaigns/${enc(id)}/${action}`);
      await reload();
      announce(`Campaign is ${live.status}`);
    } catch (error) { placeError(error); }
  }

  async function duplicate() {
    const copy = await api("POST", `campaigns/${enc(id)}/duplicate`);
    announce(`Duplicated as ${copy.name}`);
    window.location.hash = `#/campaigns/${enc(copy.id)}`;
  }

  async function remove() {
    if (!window.confirm("Delete this draft? This cannot be undone.")) return;
    await api("DELETE", `campaigns/${enc(id)}`);
    announce("Deleted");
    window.location.hash = "#/campaigns";
  }

  drawStatus();
  drawVersions();
  await preview();
  return () => window.clearTimeout(timer);
}
