// The audit log (admins): every change, who made it, when, from where and what it changed; filtered
// by user, action, target and time, newest first, a page at a time.
import { api, get, lastSegment } from "../api.js";
import { h, fill, append, field, select, uid } from "../dom.js";
import { bytes, whenExact } from "../format.js";
import { busy, errorBox, messageArea, pageTitle } from "../ui.js";

const FILTERS = ["user", "action", "target", "since", "until", "limit"];
const COLUMNS = ["Time", "User", "Address", "Action", "Target", "Change"];
const PER_PAGE = ["25", "50", "100", "250", "1000"];
// Values in bytes: shown as sizes, the exact number on hover.
const SIZES = new Set(["size", "length", "offset", "quota"]);

function apiUrl(query) {
  const p = new URLSearchParams();
  for (const k of FILTERS) {
    const v = query.get(k)?.trim();
    if (v) p.set(k, v);
  }
  return `/api/audit?${p}`;
}

// `next` is absolute and built from the server's idea of its base URL; the page asks its own origin.
const sameOrigin = (url) => {
  const u = new URL(url, location.origin);
  return u.pathname + u.search;
};

const pad = (n) => String(n).padStart(2, "0");
/** An ISO time as a datetime-local value: the visitor's local time, to the second. */
function toLocalInput(iso) {
  const d = new Date(iso ?? "");
  if (!iso || Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
/**
 * A datetime-local value as ISO 8601 in UTC: the server reads a time without a zone as UTC, so the
 * page converts what the visitor typed in their own time.
 */
function fromLocalInput(v) {
  const d = new Date(v);
  return !v || Number.isNaN(d.getTime()) ? "" : d.toISOString().replace(".000Z", "Z");
}

const none = (text = "none") => h("span", { class: "none" }, text);

function value(key, v) {
  if (v === null || v === undefined) return none();
  if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") : none();
  if (typeof v === "object") return JSON.stringify(v);
  if (key === "quota" && v === 0) return "unlimited";
  if (typeof v === "number" && SIZES.has(key)) return h("span", { title: `${v} bytes` }, bytes(v));
  // A SHA-256 in full would crowd out everything else; <abbr> keeps it one hover (or one read) away.
  if (typeof v === "string" && /^[0-9a-f]{64}$/i.test(v)) return h("abbr", { class: "hash", title: v }, `${v.slice(0, 12)}…`);
  if (v === "") return none("empty");
  return String(v);
}

// Long names without spaces (DNs, OWNER/IMAGE) may wrap after their slashes, and only there.
const breakable = (text) => String(text).split("/").flatMap((part, i) => (i ? [h("wbr"), `/${part}`] : [part]));

const unset = (v) => v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);

/**
 * What an event changed: "key: before → after" for each value that changed, one to a line. An
 * event with one side only (a creation, a deletion, a share) lists its values in a run, leaving
 * out those that were not set.
 */
function changes(e) {
  const before = e.before ?? {};
  const after = e.after ?? {};
  const oneSided = !e.before || !e.after;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !oneSided || !unset(after[k] ?? before[k]));
  if (keys.length === 0) return none("—");
  return h(
    "ul",
    { class: oneSided ? "changes changes-run" : "changes" },
    keys.map((k) => {
      const inBefore = Object.hasOwn(before, k);
      const inAfter = Object.hasOwn(after, k);
      let shown;
      if (inBefore && inAfter && JSON.stringify(before[k]) !== JSON.stringify(after[k])) {
        shown = [h("del", null, value(k, before[k])), h("span", { class: "arrow", "aria-hidden": "true" }, " → "), h("span", { class: "visually-hidden" }, " changed to "), h("ins", null, value(k, after[k]))];
      } else shown = value(k, inAfter ? after[k] : before[k]);
      return h("li", null, h("span", { class: "change-key" }, k), ": ", shown);
    }),
  );
}

export async function auditView(ctx) {
  const { query, main } = ctx;
  let page;
  try {
    page = await get(apiUrl(query));
  } catch (e) {
    if (!ctx.current()) return;
    // Not signed in, or not an admin: the server's refusal is the whole page.
    if (e.status === 401 || e.status === 403) return fill(main, pageTitle("Audit log"), errorBox(e));
    page = e; // a filter the server refused: shown under the form, to be corrected there
  }
  if (!ctx.current()) return;

  // A link that narrows the current filters by one more (or another) value.
  const narrowed = (changes) => {
    const q = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) q.set(k, v);
    return ctx.href("/audit", q);
  };

  // ---- the filters ----
  const text = (name, props = {}) => h("input", { type: "text", name, value: query.get(name) ?? "", autocomplete: "off", spellcheck: "false", ...props });
  const time = (name) => h("input", { type: "datetime-local", name, step: "1", value: toLocalInput(query.get(name)) });
  const lists = { user: h("datalist", { id: uid("audit-users") }), action: h("datalist", { id: uid("audit-actions") }), target: h("datalist", { id: uid("audit-targets") }) };
  const suggested = { user: new Set(), action: new Set(), target: new Set() };
  const suggest = (kind, values) => {
    for (const v of values) {
      if (!v || suggested[kind].has(v)) continue;
      suggested[kind].add(v);
      lists[kind].append(h("option", { value: v }));
    }
  };
  const limit = query.get("limit") || "100";
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    h(
      "div",
      { class: "filter-grid audit-filters" },
      field("User", text("user", { list: lists.user.id, placeholder: "who made the change" })),
      field("Action", text("action", { list: lists.action.id, placeholder: "e.g. image.modify or image." }), "An action, or a prefix ending in '.'"),
      field("Target", text("target", { list: lists.target.id, placeholder: "e.g. alice/sl6.img" }), "OWNER/IMAGE, user NAME or group NAME"),
      field("Since", time("since"), "Your local time; from this moment on"),
      field("Until", time("until"), "Your local time; before this moment"),
      field("Per page", select("limit", [...new Set([...PER_PAGE, limit])].sort((a, b) => a - b).map((n) => [n, n]), limit)),
      Object.values(lists),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Filter"), h("a", { href: "#/audit" }, "Clear all filters")),
  );
  const submit = () => {
    const q = new URLSearchParams();
    for (const k of FILTERS) {
      const raw = String(form.elements.namedItem(k)?.value ?? "").trim();
      const v = k === "since" || k === "until" ? fromLocalInput(raw) : raw;
      if (v && !(k === "limit" && v === "100")) q.set(k, v);
    }
    ctx.navigate(ctx.href("/audit", q));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  form.addEventListener("change", (e) => {
    if (e.target instanceof HTMLSelectElement) submit();
  });
  api("GET", "/api/users").then(({ data }) => suggest("user", data.map(lastSegment)), () => {});

  const results = h("section", { class: "results", "aria-labelledby": "audit-count" });
  fill(
    main,
    h("div", { class: "page-head" }, pageTitle("Audit log")),
    h("p", { class: "hint" }, "Every change that committed, newest first: who made it (and with which certificate), when, from which address, and the values before and after. Refused requests change nothing and are not listed."),
    form,
    results,
  );
  if (page instanceof Error) {
    fill(results, h("h2", { id: "audit-count", class: "visually-hidden" }, "Events"), errorBox(page));
    return;
  }

  // ---- the events ----
  const msg = messageArea();
  const row = (e) =>
    h(
      "tr",
      { dataset: { id: e.id } },
      h("td", { "data-label": "Time", class: "num" }, h("time", { datetime: e.time, title: e.time }, whenExact(e.time))),
      h(
        "td",
        { "data-label": "User" },
        e.user ? h("a", { href: narrowed({ user: e.user }), title: `Only changes by ${e.user}` }, e.user) : h("span", { class: "none", title: "A change the server made itself (bootstrap admins, expired uploads)" }, "server"),
        e.dn && h("div", { class: "hint dn" }, breakable(e.dn)),
      ),
      h("td", { "data-label": "Address" }, e.remote ?? "—", e.request_id && h("div", { class: "hint" }, "request ", h("code", null, e.request_id))),
      h("td", { "data-label": "Action" }, h("a", { href: narrowed({ action: e.action }), title: `Only ${e.action} events` }, h("code", null, e.action))),
      h("td", { "data-label": "Target", class: "cell-target" }, h("a", { href: narrowed({ target: e.target }), title: `Only events for ${e.target}` }, breakable(e.target))),
      h("td", { "data-label": "Change" }, changes(e)),
    );
  // Suggest what the log holds: its actions, the prefixes that group them, and its targets.
  const learn = (events) => {
    suggest("action", events.flatMap((e) => [e.action, `${e.action.split(".")[0]}.`]).sort());
    suggest("target", events.map((e) => e.target).sort());
  };

  let shown = page.events.length;
  let next = page.next;
  const count = h("h2", { id: "audit-count", class: "results-count", role: "status" });
  const setCount = () => (count.textContent = shown === 0 ? "No events match." : `${shown === 1 ? "1 event" : `Events 1–${shown}`}${next ? "" : " (all that match)"}`);
  const tbody = h("tbody", null, page.events.map(row));
  const captionId = uid("cap");
  const pager = h("nav", { class: "pager", "aria-label": "More events" });
  if (next) {
    append(
      pager,
      h(
        "button",
        {
          type: "button",
          class: "btn",
          onclick: (ev) =>
            busy(ev.currentTarget, async () => {
              try {
                const more = await get(sameOrigin(next));
                const rows = more.events.map(row);
                tbody.append(...rows);
                learn(more.events);
                shown += more.events.length;
                next = more.next;
                setCount();
                if (!next) pager.remove();
                // Keyboard and screen-reader users continue where the new events start.
                if (rows[0]) {
                  rows[0].setAttribute("tabindex", "-1");
                  rows[0].focus({ preventScroll: true });
                }
              } catch (e) {
                msg.error(e, "More events");
              }
            }),
        },
        "More events",
      ),
    );
  }
  setCount();
  learn(page.events);
  fill(
    results,
    count,
    shown > 0 &&
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "audit stack", "aria-describedby": captionId }, h("caption", { id: captionId, class: "visually-hidden" }, "Audit events, newest first"), h("thead", null, h("tr", null, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), tbody),
      ),
    msg.el,
    next && pager,
  );
}
