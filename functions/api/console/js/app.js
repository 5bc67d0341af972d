// The console: a client of the public API. Hash routes, so every page is a link and the server
// serves one page.
import { api, session, ApiError } from "./api.js";
import { h, clear, field, announce, append } from "./dom.js";
import { campaignsPage } from "./campaigns.js";
import { editorPage, newCampaignPage } from "./editor.js";
import { tryItPage } from "./tryit.js";
import { reportPage } from "./report.js";
import { executionsPage } from "./executions.js";

const main = document.getElementById("main");
let leave = null; // what the current page must stop (polling) when another opens

const routes = [
  [/^#?\/?$/, () => campaignsPage],
  [/^#\/campaigns$/, () => campaignsPage],
  [/^#\/campaigns\/new$/, () => newCampaignPage],
  [/^#\/campaigns\/([^/]+)$/, () => editorPage],
  [/^#\/campaigns\/([^/]+)\/try$/, () => tryItPage],
  [/^#\/campaigns\/([^/]+)\/report$/, () => reportPage],
  [/^#\/executions$/, () => executionsPage],
];

function parseHash() {
  const [path, query = ""] = window.location.hash.split("?");
  return { path: path || "#/", query: new URLSearchParams(query) };
}

async function render() {
  if (leave) { leave(); leave = null; }
  clear(main);
  document.getElementById("status").textContent = "";
  if (!session.key) { signInPage(); return; }
  document.getElementById("nav").hidden = false;
  const { path, query } = parseHash();
  for (const [pattern, page] of routes) {
    const found = path.match(pattern);
    if (!found) continue;
    const section = path.split("/")[1] || "campaigns";
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === section) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    try {
      leave = (await page()(main, { params: found.slice(1).map(decodeURIComponent), query })) || null;
    } catch (error) {
      showFailure(error);
    }
    focusHeading();
    return;
  }
  append(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/campaigns" }, "Back to the campaigns")));
  focusHeading();
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: false }); document.title = `${heading.textContent} · Campaigns console`; }
}

export function showFailure(error) {
  const message = error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
  append(main, h("div", { class: "alert", role: "alert" }, h("h2", {}, "Something went wrong"), h("p", {}, message)));
}

function signInPage() {
  document.getElementById("nav").hidden = true;
  const input = h("input", { type: "password", name: "apiKey", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card narrow", onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      const key = input.value.trim();
      try {
        await api("GET", "campaigns?limit=1", undefined, { key });
      } catch (failure) {
        if (failure.status === 401 || failure.status === 0) {
          error.textContent = failure.status === 401 ? "This key is not known (or has expired or been revoked)." : failure.message;
          input.focus();
          return;
        }
        // 403: a key without campaigns:read (a trigger-only key) may still use the executions explorer.
      }
      session.signIn(key);
      announce("Signed in");
      render();
    } },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API key. It is kept for this browser tab only (sessionStorage) and sent only to this API, as every call's Authorization header."),
    field({ label: "API key", control: input, hint: "make run prints an admin key; make api-key makes more" }),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  append(main, form);
  focusHeading();
  input.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  announce("Signed out");
  window.location.hash = "#/campaigns";
  render();
});
window.addEventListener("console:signed-out", () => { session.signOut(); render(); });
window.addEventListener("hashchange", render);
render();
