// The public API, called with the key kept for this browser session only (sessionStorage: gone when
// the tab closes, never sent anywhere but this API's own origin).

const KEY = "campaignsConsole.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() { sessionStorage.removeItem(KEY); },
};

// The console lives at <base>/console/index.html; the API at <base>/.
export const API_BASE = new URL("../", window.location.href);

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || problem?.message || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || (status === 401 ? "unauthorized" : status === 403 ? "forbidden" : `http_${status}`);
    this.errors = Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), API_BASE);
}

export async function api(method, path, body, { key = session.key } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(apiUrl(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, { title: "The API cannot be reached", detail: String(error.message || error) });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (!response.ok) {
    if (response.status === 401 && key === session.key) window.dispatchEvent(new CustomEvent("console:signed-out"));
    throw new ApiError(response.status, data);
  }
  return data;
}

export const enc = encodeURIComponent;
