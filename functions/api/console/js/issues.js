// Problems shown next to the field (and line) they concern: review results, validation errors,
// render errors. Each form block carries data-field="content.locales.en-US.html" and the issue's
// field goes to the block with the longest path that leads to it.
import { h, clear, append } from "./dom.js";

function covers(blockField, issueField) {
  return issueField === blockField || issueField.startsWith(`${blockField}.`) || issueField.startsWith(`${blockField}[`);
}

export function blockFor(root, issueField) {
  let best = null;
  for (const block of root.querySelectorAll("[data-field]")) {
    const name = block.dataset.field;
    if (covers(name, issueField) && (!best || name.length > best.dataset.field.length)) best = block;
  }
  if (best) return best;
  // An issue about a whole group (content.locales.pt-BR): its first field.
  return [...root.querySelectorAll("[data-field]")].find((block) => covers(issueField, block.dataset.field)) || null;
}

export function clearIssues(root, kinds = ["error", "warning"]) {
  for (const item of root.querySelectorAll(".issues li")) if (kinds.some((kind) => item.classList.contains(kind))) item.remove();
  for (const block of root.querySelectorAll("[data-field]")) {
    if (!block.querySelector(".issues li.error")) block.querySelector("[aria-invalid]")?.removeAttribute("aria-invalid");
  }
}

export function lineOf(message) {
  const found = /\(line (\d+)\)|line (\d+)/.exec(message || "");
  return found ? Number(found[1] || found[2]) : null;
}

/** Puts each issue beside its field; returns those that found no field. */
export function showIssues(root, issues, kind, { reveal } = {}) {
  const unplaced = [];
  for (const issue of issues) {
    const block = blockFor(root, issue.field || "");
    if (!block) { unplaced.push(issue); continue; }
    if (reveal) reveal(block);
    const slot = block.querySelector(".issues");
    let list = slot.querySelector("ul");
    if (!list) { list = h("ul"); append(slot, list); }
    append(list, h("li", { class: kind, dataset: { issueField: issue.field || "", code: issue.code || "" } },
      h("strong", {}, kind === "error" ? "Error: " : "Warning: "), issue.message, issue.code ? h("span", { class: "code" }, ` (${issue.code})`) : null));
    if (kind === "error") block.querySelector("input, textarea, select")?.setAttribute("aria-invalid", "true");
  }
  return unplaced;
}

/** Moves the focus to the field an issue names, selecting the line it names in a text area. */
export function goToIssue(root, issue, reveal) {
  const block = blockFor(root, issue.field || "");
  if (!block) return;
  if (reveal) reveal(block);
  const control = block.querySelector("textarea, input, select");
  if (!control) return;
  control.focus();
  const line = lineOf(issue.message);
  if (line && control.tagName === "TEXTAREA") {
    const lines = control.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    control.setSelectionRange(start, start + (lines[line - 1] || "").length);
  }
}

/** A summary of issues: each a button that goes to its field. */
export function summary(container, title, issues, root, reveal) {
  clear(container);
  if (!issues.length) return;
  append(container, h("h3", {}, title), h("ul", {}, issues.map((issue) => h("li", { class: issue.kind || "" },
    h("button", { type: "button", class: "link", onclick: () => goToIssue(root, issue, reveal) }, issue.field || "campaign"),
    `: ${issue.message}`))));
}
