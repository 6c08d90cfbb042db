// The JSON API, as the page uses it. The browser presents its client certificate on the TLS
// connection; nothing here handles credentials.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const seg = encodeURIComponent;
export const paths = {
  image: (owner, name) => `/api/images/${seg(owner)}/${seg(name)}`,
  raw: (owner, hv, name) => `/api/images/raw/${seg(owner)}/${seg(hv)}/${seg(name)}`,
  versions: (owner, name) => `/api/images/${seg(owner)}/${seg(name)}/versions`,
  rollback: (owner, name) => `/api/images/${seg(owner)}/${seg(name)}/rollback`,
  share: (owner, name, kind, target) => `/api/images/${seg(owner)}/${seg(name)}/share/${seg(kind)}/${seg(target)}`,
  user: (name) => `/api/users/${seg(name)}`,
  group: (name) => `/api/groups/${seg(name)}`,
  member: (group, user) => `/api/groups/${seg(group)}/users/${seg(user)}`,
  permission: (group, p) => `/api/groups/${seg(group)}/permissions/${seg(p)}`,
};

/** The last path segment of an API URL (user, group and image URLs end in their name). */
export const lastSegment = (url) => decodeURIComponent(String(url).replace(/\/+$/, "").split("/").pop() ?? "");

function errorFrom(status, statusText, data) {
  const e = data && typeof data === "object" ? data.error : undefined;
  return new ApiError(status, e?.code ?? `http_${status}`, e?.message ?? `${status} ${statusText || "error"}`);
}

/** fetch + JSON; throws ApiError with the server's message on any non-2xx answer. */
export async function api(method, path, { json } = {}) {
  const headers = { accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "network", `the server could not be reached (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw errorFrom(res.status, res.statusText, data);
  return { data, headers: res.headers };
}

export const get = async (path) => (await api("GET", path)).data;

/** The URL of rel="next" in a Link header, or null. */
export function nextLink(headers) {
  const link = headers.get("link");
  if (!link) return null;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /\brel="?next"?/.test(m[2])) return m[1];
  }
  return null;
}

/**
 * PUT a file as the request body with XMLHttpRequest, for upload progress. The browser streams
 * the file from disk; the page sets no size limit. Returns { promise, abort }.
 */
export function uploadFile(path, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("PUT", path);
    xhr.setRequestHeader("accept", "application/json");
    xhr.setRequestHeader("content-type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener("load", () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(errorFrom(xhr.status, xhr.statusText, data));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the upload failed: the connection was lost")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was cancelled; nothing was stored")));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
