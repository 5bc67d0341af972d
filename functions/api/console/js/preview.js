// How a rendered message looks: an email in sandboxed frames (no script, no forms, no same-origin)
// at desktop and phone widths; an SMS with its encoding and segments; a push as a phone shows it.
import { h } from "./dom.js";
import { smsInfo } from "./sms.js";

export function renderPreview(result) {
  if (result.channel === "email") return emailPreview(result);
  if (result.channel === "sms") return smsPreview(result);
  return pushPreview(result);
}

function frame(html, width, label) {
  const iframe = h("iframe", { sandbox: "", title: `${label} preview of the email`, class: `mail-frame ${width}`, referrerpolicy: "no-referrer"});
  iframe.srcdoc = html || "<p>(no HTML part)</p>";
  return h("figure", { class: `frame-box ${width}-width` }, h("figcaption", {}, label), iframe);
}

function emailPreview(result) {
  const text = h("pre", { class: "mail-text", hidden: true, id: "preview-text-part" }, result.text || "");
  const toggle = h("button", { type: "button", "aria-expanded": "false", "aria-controls": "preview-text-part", onclick: () => {
    text.hidden = !text.hidden;
    toggle.setAttribute("aria-expanded", String(!text.hidden));
    toggle.textContent = text.hidden ? "Show the text part" : "Hide the text part";
  } }, "Show the text part");
  return h("div", { class: "preview email", "data-channel": "email" },
    h("p", { class: "subject" }, h("span", { class: "muted" }, "Subject: "), h("strong", { "data-testid": "preview-subject" }, result.subject || "")),
    h("p", { class: "muted" }, `Locale ${result.locale}`),
    h("div", { class: "frames" }, frame(result.html, "desktop", "Desktop (600 px)"), frame(result.html, "phone", "Phone (375 px)")),
    toggle, text);
}

function smsPreview(result) {
  const info = smsInfo(result.body);
  return h("div", { class: "preview sms", "data-channel": "sms" },
    h("div", { class: "handset" }, h("div", { class: "bubble", "data-testid": "preview-sms" }, result.body || "")),
    h("p", { class: "sms-info", "data-testid": "sms-info" },
      `${info.segments} segment${info.segments === 1 ? "" : "s"} · ${info.encoding} · ${info.units} ${info.encoding === "GSM-7" ? "characters" : "UTF-16 units"} (${info.perSegment} per segment)`),
    h("p", { class: "muted" }, `Locale ${result.locale}`));
}

function pushPreview(result) {
  const data = Object.entries(result.data || {});
  return h("div", { class: "preview push", "data-channel": "push" },
    h("div", { class: "handset lock" },
      h("div", { class: "notification", "data-testid": "preview-push" },
        h("div", { class: "app" }, h("span", { class: "app-icon", "aria-hidden": "true" }), "Your app · now"),
        h("strong", {}, result.title || ""),
        h("p", {}, result.body || ""))),
    data.length ? h("dl", { class: "push-data" }, data.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : null,
    h("p", { class: "muted" }, `Locale ${result.locale}`));
}
