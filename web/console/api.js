// The JSON API with the console's session cookie: the CSRF token goes with every change.

let csrf = null;
let onUnauthorized = () => {};

export function setCsrf(token) { csrf = token; }
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export async function api(method, path, body, headers = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = csrf;
  const response = await fetch(`/api/v1${path}`, init);
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && path !== "/session") onUnauthorized();
    throw new ApiError(response.status, data);
  }
  const etag = response.headers.get("ETag");
  if (etag && data && typeof data === "object") Object.defineProperty(data, "etag", { value: etag });
  return data;
}

export const get = (path) => api("GET", path);
export const put = (path, body, headers) => api("PUT", path, body, headers);
export const del = (path, body, headers) => api("DELETE", path, body, headers);

/** The answer of ``request``, or null when the server has no such endpoint (404: a newer server has it). */
export async function optional(request) {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}
export const post = (path, body, headers) => api("POST", path, body, headers);
export const patch = (path, body, headers) => api("PATCH", path, body, headers);
