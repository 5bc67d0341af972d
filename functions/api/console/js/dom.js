// Building the page from data without ever parsing data as HTML.

/** h("button", {type: "button", onclick: f, "aria-label": "Close"}, "x") */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "value") element.value = value;
    else if (name === "checked" || name === "disabled" || name === "hidden" || name === "selected") element[name] = Boolean(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(element, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

let idCounter = 0;
export function uid(prefix = "id") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form control: {label, control, hint, field} -> a .field block whose issues slot is found by data-field. */
export function field({ label, control, hint, field }) {
  control.id = control.id || uid("f");
  const issues = h("div", { class: "issues", id: `${control.id}-issues`, "aria-live": "polite" });
  const described = [hint ? `${control.id}-hint` : null, issues.id].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return h(
    "div",
    { class: "field", dataset: field ? { field } : undefined },
    h("label", { for: control.id }, label),
    hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null,
    control,
    issues,
  );
}

/** Says something to screen-reader users and shows it in the status line. */
export function announce(message) {
  const status = document.getElementById("status");
  status.textContent = "";
  // A fresh text node, so that the same message twice is announced twice.
  window.setTimeout(() => { status.textContent = message; }, 20);
}

export function formatTime(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${String(kind).replace(/[^a-z_]/gi, "")}` }, text);
}

/** A table: columns [{label, value(row) -> node|text}] */
export function table(caption, columns, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((column, index) =>
      index === 0 ? h("th", { scope: "row" }, column.value(row)) : h("td", {}, column.value(row)))))),
  );
}
