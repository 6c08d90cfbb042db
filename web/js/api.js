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
  list: (owner, name) => `/api/lists/${seg(owner)}/${seg(name)}`,
};

/** The last path segment of an API URL (user, group and image URLs end in their name). */
export const lastSegment = (url) => decodeURIComponent(String(url).replace(/\/+$/, "").split("/").pop() ?? "");

function errorFrom(status, statusText, data) {
  const e = data && typeof data === "object" ? data.error : undefined;
  return new ApiError(status, e?.code ?? `http_${status}`, e?.message ?? `${status} ${statusText || "error"}`);
}

/** fetch + JSON; throws ApiError with the server's message on any non-2xx answer. */
export async function api(method, path, { json, headers: extra = {} } = {}) {
  const headers = { accept: "application/json", ...extra };
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

const TUS = { "tus-resumable": "1.0.0" };
const CHUNK = 32 * 1024 * 1024;
const RETRIES = 6;
const b64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));

/** The resumable upload of this file to this image's hypervisor, remembered across page loads. */
const fingerprint = (target, file) => `repoman-upload:${[target.owner, target.image, target.hypervisor, file.name, file.size, file.lastModified].join("/")}`;

async function chunkChecksum(blob) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  return btoa(String.fromCharCode(...digest));
}

/** The offset the server has for an upload, or null when it no longer knows it. */
async function uploadOffset(url) {
  const res = await fetch(url, { method: "HEAD", headers: TUS, credentials: "same-origin", cache: "no-store" });
  if (res.status === 404 || res.status === 410) return null;
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `the server answered ${res.status} about the upload`);
  return Number(res.headers.get("upload-offset"));
}

/**
 * Uploads a file with the server's resumable protocol (tus 1.0): 32 MiB chunks, each checked by
 * the server against its SHA-256 and sent with XMLHttpRequest for progress. A chunk lost with the
 * connection is sent again; after a reload, choosing the same file again continues where the
 * server has bytes (the upload's address is kept in localStorage). Returns { promise, abort }:
 * the promise gives the image, at its new version; abort cancels the upload on the server too.
 * onProgress(loaded, total), onResume(offset).
 */
export function uploadFile(target, file, onProgress, onResume = () => {}) {
  let xhr = null;
  let aborted = false;
  const key = fingerprint(target, file);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const patch = (url, offset, chunk, checksum) =>
    new Promise((resolve, reject) => {
      xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      for (const [k, v] of Object.entries({ ...TUS, accept: "application/json", "content-type": "application/offset+octet-stream", "upload-offset": String(offset), "upload-checksum": `sha256 ${checksum}` })) xhr.setRequestHeader(k, v);
      xhr.upload.addEventListener("progress", (e) => onProgress(offset + e.loaded, file.size));
      xhr.addEventListener("load", () => {
        let data = null;
        try {
          data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch {
          data = null;
        }
        if (xhr.status === 200 || xhr.status === 204) resolve(data);
        else reject(errorFrom(xhr.status, xhr.statusText, data));
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, "network", "the connection was lost")));
      xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "the upload was cancelled; nothing was stored")));
      xhr.send(chunk);
    });
  const promise = (async () => {
    let url = localStorage.getItem(key);
    let offset = url ? await uploadOffset(url) : null;
    if (offset === null) {
      const meta = [`image ${b64(target.image)}`, `hypervisor ${b64(target.hypervisor)}`, `owner ${b64(target.owner)}`].join(",");
      const { data, headers } = await api("POST", "/api/uploads", { headers: { ...TUS, "upload-length": String(file.size), "upload-metadata": meta } });
      url = new URL(headers.get("location")).pathname;
      if (data?.image) return data.image; // an empty file is complete at once
      localStorage.setItem(key, url);
      offset = 0;
    } else if (offset > 0) onResume(offset);
    onProgress(offset, file.size);
    while (offset < file.size) {
      const end = Math.min(file.size, offset + CHUNK);
      const chunk = file.slice(offset, end);
      const checksum = await chunkChecksum(chunk);
      for (let attempt = 1; ; attempt++) {
        try {
          const image = await patch(url, offset, chunk, checksum);
          if (end === file.size) {
            localStorage.removeItem(key);
            return image;
          }
          offset = end;
          break;
        } catch (e) {
          if (aborted || (e.status >= 400 && e.status < 500 && e.status !== 409 && e.status !== 460) || attempt >= RETRIES) throw e;
          await sleep(Math.min(30_000, 500 * 2 ** (attempt - 1)));
          const now = await uploadOffset(url).catch(() => offset);
          if (now === null) {
            localStorage.removeItem(key);
            throw new ApiError(0, "gone", "the upload expired or was cancelled on the server; upload the file again");
          }
          if (now !== offset) {
            offset = now;
            break;
          }
        }
      }
    }
    // Completed by another page (or after an answer that was lost): the image says how it is now.
    localStorage.removeItem(key);
    return get(`${paths.image(target.owner, target.image)}?timestamps=iso`);
  })();
  const abort = () => {
    aborted = true;
    xhr?.abort();
    const url = localStorage.getItem(key);
    localStorage.removeItem(key);
    if (url) fetch(url, { method: "DELETE", headers: TUS, credentials: "same-origin" }).catch(() => {});
  };
  return { promise, abort };
}
