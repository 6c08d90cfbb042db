// Find: one searchable, filterable, sortable, paginated list of every image the visitor may see.
import { api, lastSegment, nextLink } from "../api.js";
import { h, fill, field, select, uid } from "../dom.js";
import { can, imageChoices, imageSchema } from "../can.js";
import { bytes, diskFormat, when } from "../format.js";
import { badge, errorBox, pageTitle, notice, takeFlash } from "../ui.js";

const FILTERS = ["q", "show", "owner", "os_type", "os_variant", "os_arch", "hypervisor", "sort", "limit"];
const SORTS = [
  ["", "Owner"],
  ["name", "Name"],
  ["-uploaded", "Last upload, newest first"],
  ["uploaded", "Last upload, oldest first"],
  ["-size", "Size, largest first"],
  ["size", "Size, smallest first"],
  ["-modified", "Last change, newest first"],
];
const COLUMNS = [
  // [label, sort key when clicked (first click), sort keys that mean "sorted by this column"]
  ["Name", "name", ["name", "-name"]],
  ["Owner", "owner", ["", "owner", "-owner"]],
  ["OS", null],
  ["Arch", null],
  ["Hypervisors", null],
  ["Size", "-size", ["size", "-size"]],
  ["Format", null],
  ["Last upload", "-uploaded", ["uploaded", "-uploaded"]],
  ["Access", null],
];

// Markers of the pages before the current one, so "Previous" works with keyset pagination.
let trail = { key: "", markers: [] };

function apiUrl(session, query) {
  const p = new URLSearchParams({ detail: "true", timestamps: "iso" });
  for (const k of ["q", "owner", "os_type", "os_variant", "os_arch", "hypervisor", "sort", "marker"]) {
    const v = query.get(k);
    if (v) p.set(k, v);
  }
  p.set("limit", query.get("limit") || "50");
  const show = session.me ? query.get("show") : null;
  if (show === "mine") p.set("owner", session.name);
  if (show === "public") p.set("unauthenticated_access", "true");
  if (show === "shared") return `/api/users/${encodeURIComponent(session.name)}/shared?${p}`;
  return `/api/images?${p}`;
}

function access(session, img) {
  if (img.unauthenticated_access) return badge("Public", "badge-public");
  const sharedUsers = img.shared_with.users.map(lastSegment);
  const sharedGroups = img.shared_with.groups.map(lastSegment);
  if (img.owner_user_name === session.name) return sharedUsers.length || sharedGroups.length ? badge("Shared", "badge-shared") : badge("Private", "badge-private");
  if (sharedUsers.includes(session.name) || sharedGroups.some((g) => session.groups.includes(g))) return badge("Shared with you", "badge-shared");
  return badge("Private", "badge-private");
}

export async function imageListView(ctx) {
  const { session, query, main } = ctx;
  // Without the schema the two choice filters offer only "Any"; the list itself still works.
  const { osArches, hypervisors } = await imageSchema().then(imageChoices, () => ({ osArches: [], hypervisors: [] }));
  if (!ctx.current()) return;
  const filterKey = FILTERS.map((k) => `${k}=${query.get(k) ?? ""}`).join("&");
  if (trail.key !== filterKey || !query.get("marker")) trail = { key: filterKey, markers: [] };

  const setQuery = (changes, { keepMarker = false } = {}) => {
    const q = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) {
      if (v === "" || v === null || v === undefined) q.delete(k);
      else q.set(k, v);
    }
    if (!keepMarker) q.delete("marker");
    ctx.navigate(ctx.href("/images", q));
  };

  // ---- the search form ----
  const q = h("input", { type: "search", name: "q", value: query.get("q") ?? "", placeholder: "Name or description", autocomplete: "off" });
  const owner = h("input", { type: "text", name: "owner", value: query.get("owner") ?? "", list: "owner-list", autocomplete: "off", spellcheck: "false" });
  const ownerList = h("datalist", { id: "owner-list" });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Find images" },
    h("div", { class: "filter-main" }, field("Search", q), h("button", { type: "submit", class: "btn" }, "Search")),
    h(
      "div",
      { class: "filter-grid" },
      session.me && field("Show", select("show", [["", "All I can see"], ["mine", "My images"], ["shared", "Shared with me"], ["public", "Public images"]], query.get("show"))),
      field("Owner", owner),
      ownerList,
      field("OS type", h("input", { type: "text", name: "os_type", value: query.get("os_type") ?? "", placeholder: "e.g. linux" })),
      field("OS variant", h("input", { type: "text", name: "os_variant", value: query.get("os_variant") ?? "", placeholder: "e.g. sl6" })),
      field("Architecture", select("os_arch", [["", "Any"], ...osArches.map((a) => [a, a])], query.get("os_arch"))),
      field("Hypervisor", select("hypervisor", [["", "Any"], ...hypervisors.map((a) => [a, a])], query.get("hypervisor"))),
      field("Sort by", select("sort", SORTS, query.get("sort"))),
      field("Per page", select("limit", [...new Set(["25", "50", "100", "250", query.get("limit") || "50"])].sort((a, b) => a - b).map((n) => [n, n]), query.get("limit") || "50")),
    ),
    h("p", { class: "filter-reset" }, h("a", { href: "#/" }, "Clear all filters")),
  );
  const submit = () => setQuery(Object.fromEntries(FILTERS.map((k) => [k, form.elements.namedItem(k)?.value?.trim() ?? ""])));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  form.addEventListener("change", (e) => {
    if (e.target instanceof HTMLSelectElement) submit();
  });

  const results = h("section", { class: "results", "aria-labelledby": "results-heading" });
  fill(
    main,
    h(
      "div",
      { class: "page-head" },
      pageTitle("Images"),
      can.createImage(session) && h("a", { class: "btn", href: "#/new" }, "New image"),
    ),
    takeFlash(),
    !session.me && notice("You are browsing anonymously: only public images are listed. Import your grid certificate into the browser and reload to see your own and shared images."),
    form,
    results,
  );
  if (session.me) {
    api("GET", "/api/users").then(
      ({ data }) => fill(ownerList, data.map((u) => h("option", { value: lastSegment(u) }))),
      () => {},
    );
  }

  // ---- the results ----
  let data, headers;
  try {
    ({ data, headers } = await api("GET", apiUrl(session, query)));
  } catch (e) {
    if (ctx.current()) fill(results, h("h2", { id: "results-heading", class: "visually-hidden" }, "Results"), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const limit = Number(query.get("limit") || "50");
  const first = trail.markers.length * limit + 1;
  const next = nextLink(headers);
  const nextMarker = next ? new URL(next, location.origin).searchParams.get("marker") : null;
  const sort = query.get("sort") ?? "";

  const header = (label, key, keys) => {
    if (key === null) return h("th", { scope: "col" }, label);
    const active = keys.includes(sort);
    const desc = sort.startsWith("-");
    const base = key.replace(/^-/, "");
    const target = active ? (desc ? base : `-${base}`) : key;
    return h(
      "th",
      { scope: "col", "aria-sort": active ? (desc ? "descending" : "ascending") : false },
      h("button", { type: "button", class: "sort", onclick: () => setQuery({ sort: target }), title: `Sort by ${label.toLowerCase()}` }, label, active ? h("span", { "aria-hidden": "true" }, desc ? " ▼" : " ▲") : null),
    );
  };

  const rows = data.map((img) =>
    h(
      "tr",
      null,
      h("td", { "data-label": "Name", class: "cell-name" }, h("a", { href: ctx.href("/images", img.owner_user_name, img.name) }, img.name), img.description ? h("div", { class: "desc" }, img.description) : null),
      h("td", { "data-label": "Owner" }, img.owner_user_name),
      h("td", { "data-label": "OS" }, [img.os_type, img.os_variant].filter(Boolean).join(" ") || "—"),
      h("td", { "data-label": "Arch" }, img.os_arch ?? "—"),
      h("td", { "data-label": "Hypervisors" }, img.hypervisor.split(",").join(", ")),
      h("td", { "data-label": "Size", class: "num", title: img.size === null ? false : `${img.size} bytes` }, bytes(img.size)),
      h("td", { "data-label": "Format", title: img.virtual_size != null ? `a disk of ${img.virtual_size} bytes` : false }, img.format ? diskFormat(img.format, img.virtual_size) : "—"),
      h("td", { "data-label": "Last upload" }, img.uploaded ? h("time", { datetime: img.uploaded }, when(img.uploaded)) : "never"),
      h("td", { "data-label": "Access" }, access(session, img)),
    ),
  );
  const countText = data.length === 0 ? (first === 1 ? "No images match." : "No more images.") : `Images ${first}–${first + data.length - 1}${nextMarker ? "" : " (last page)"}`;
  const captionId = uid("cap");
  fill(
    results,
    h("h2", { id: "results-heading", class: "results-count", role: "status" }, countText),
    data.length > 0 &&
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "images", "aria-describedby": captionId }, h("caption", { id: captionId, class: "visually-hidden" }, "Images; column headers sort the list"), h("thead", null, h("tr", null, COLUMNS.map(([l, k, keys]) => header(l, k, keys ?? [])))), h("tbody", null, rows)),
      ),
    (trail.markers.length > 0 || nextMarker) &&
      h(
        "nav",
        { class: "pager", "aria-label": "Pages" },
        trail.markers.length > 0 && h("button", { type: "button", class: "btn btn-secondary", onclick: () => setQuery({}) }, "First page"),
        trail.markers.length > 0 &&
          h("button", { type: "button", class: "btn btn-secondary", onclick: () => { const m = trail.markers.pop(); setQuery({ marker: m }, { keepMarker: true }); } }, "Previous page"),
        nextMarker &&
          h("button", { type: "button", class: "btn", onclick: () => { trail.markers.push(query.get("marker") ?? ""); setQuery({ marker: nextMarker }, { keepMarker: true }); } }, "Next page"),
      ),
  );
}
