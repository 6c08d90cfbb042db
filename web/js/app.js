// Entry point: who is signed in, the header, and hash routing (#/images/alice/sl6.img …).
import { api, ApiError } from "./api.js";
import { h, fill } from "./dom.js";
import { can, makeSession } from "./can.js";
import { errorBox } from "./ui.js";
import { imageListView } from "./views/images.js";
import { imageView } from "./views/image.js";
import { imageFormView } from "./views/image-form.js";
import { usersView, userView } from "./views/users.js";
import { groupsView, groupView } from "./views/groups.js";
import { auditView } from "./views/audit.js";
import { listFormView, listsView, listView } from "./views/lists.js";

const routes = [
  [/^\/(?:images)?$/, (m, ctx) => imageListView(ctx)],
  [/^\/new$/, (m, ctx) => imageFormView(ctx, null)],
  [/^\/images\/([^/]+)\/([^/]+)$/, (m, ctx) => imageView(ctx, m[1], m[2])],
  [/^\/images\/([^/]+)\/([^/]+)\/edit$/, (m, ctx) => imageFormView(ctx, { owner: m[1], name: m[2] })],
  [/^\/users$/, (m, ctx) => usersView(ctx)],
  [/^\/users\/([^/]+)$/, (m, ctx) => userView(ctx, m[1])],
  [/^\/me$/, (m, ctx) => userView(ctx, ctx.session.name ?? "")],
  [/^\/groups$/, (m, ctx) => groupsView(ctx)],
  [/^\/groups\/([^/]+)$/, (m, ctx) => groupView(ctx, m[1])],
  [/^\/audit$/, (m, ctx) => auditView(ctx)],
  [/^\/lists$/, (m, ctx) => listsView(ctx)],
  [/^\/lists\/new$/, (m, ctx) => listFormView(ctx, null)],
  [/^\/lists\/([^/]+)\/([^/]+)$/, (m, ctx) => listView(ctx, m[1], m[2])],
  [/^\/lists\/([^/]+)\/([^/]+)\/edit$/, (m, ctx) => listFormView(ctx, { owner: m[1], name: m[2] })],
];

let session = makeSession(null);
let generation = 0;

/** #/path?query → { path, query } with decoded path segments. */
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs = ""] = raw.split("?");
  return { path, query: new URLSearchParams(qs) };
}

/** Build an in-page link: href("/images", "alice", "sl6.img") → "#/images/alice/sl6.img". */
export function href(...segments) {
  const last = segments[segments.length - 1];
  const query = last instanceof URLSearchParams ? segments.pop() : null;
  const path = segments.map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join("/");
  const qs = query && [...query].length ? `?${query}` : "";
  return `#${path}${qs}`;
}

export function navigate(to, { replace = false } = {}) {
  if (replace) {
    history.replaceState(null, "", to);
    render();
  } else if (location.hash === to) render();
  else location.hash = to;
}

async function loadSession() {
  try {
    session = makeSession((await api("GET", "/api/whoami")).data);
  } catch (e) {
    // 401: no certificate (anonymous); 403: unregistered DN or suspended account.
    session = makeSession(null, e instanceof ApiError && e.status === 401 ? null : e);
  }
}

function renderHeader() {
  const nav = document.getElementById("nav");
  const { path } = parseHash();
  const link = (to, label, match) => h("a", { href: to, "aria-current": match.test(path) ? "page" : false }, label);
  fill(
    nav,
    h(
      "ul",
      null,
      h("li", null, link("#/", "Images", /^\/(images.*)?$/)),
      can.createImage(session) && h("li", null, link("#/new", "New image", /^\/new$/)),
      h("li", null, link("#/lists", "Image lists", /^\/lists/)),
      can.signedIn(session) && h("li", null, link("#/users", "Users", /^\/users/)),
      can.signedIn(session) && h("li", null, link("#/groups", "Groups", /^\/groups/)),
      can.readAudit(session) && h("li", null, link("#/audit", "Audit log", /^\/audit/)),
    ),
  );
  const who = document.getElementById("who");
  if (session.me) {
    fill(who, h("a", { href: "#/me", title: session.me.client_dn, "aria-current": path === "/me" ? "page" : false }, h("span", { class: "who-label" }, "Signed in as "), h("strong", { class: "who-name" }, session.name)), session.isAdmin && h("span", { class: "badge badge-admin" }, "admin"));
  } else {
    fill(who, h("span", { class: "who-anon", title: "Import your grid certificate into the browser to sign in" }, "Not signed in"));
  }
  const banner = document.getElementById("banner");
  fill(banner, session.problem ? errorBox(session.problem, "Your certificate") : null);
}

async function render() {
  const hash = location.hash;
  const { path, query } = parseHash();
  const main = document.getElementById("main");
  const mine = ++generation;
  renderHeader();
  const ctx = {
    session,
    query,
    main,
    href,
    navigate,
    /** False once the user has moved on; async views check it before drawing. */
    current: () => mine === generation,
    /** Re-read /api/whoami (after changing one's own account or groups). */
    refreshSession: async () => {
      const held = session;
      await loadSession();
      // Views keep the object they were given: update it in place.
      session = Object.assign(held, session);
      renderHeader();
    },
  };
  const route = routes.find(([re]) => re.test(path));
  let segments;
  try {
    segments = route ? route[0].exec(path).slice(1).map(decodeURIComponent) : null;
  } catch {
    segments = null;
  }
  if (!route || !segments) {
    fill(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "#/" }, "Back to the images")));
    document.documentElement.dataset.rendered = hash;
    return;
  }
  fill(main, h("p", { class: "loading", role: "status" }, "Loading…"));
  try {
    await route[1]([path, ...segments], ctx);
  } catch (e) {
    if (ctx.current()) fill(main, h("h1", { tabindex: "-1" }, "Something went wrong"), errorBox(e));
  }
  if (!ctx.current()) return;
  if (document.activeElement === document.body) main.querySelector("h1")?.focus({ preventScroll: true });
  // Which address the page now shows in full: tests (and other automation) wait for it.
  document.documentElement.dataset.rendered = hash;
}

window.addEventListener("hashchange", () => {
  if (location.hash === "" || location.hash.startsWith("#/")) render();
});
document.querySelector(".skip")?.addEventListener("click", (e) => {
  e.preventDefault();
  document.getElementById("main")?.focus();
});

await loadSession();
await render();
