// Image lists (HEPiX) for grid sites: every list (anyone may read them), one list's page with what
// each entry lists and the URL sites subscribe to, the create/edit form, and "Add to a list" for
// an image's page.
import { api, ApiError, get, lastSegment, paths } from "../api.js";
import { h, fill, field, select } from "../dom.js";
import { can } from "../can.js";
import { bytes, plural, when } from "../format.js";
import { badge, commandLine, confirmDialog, errorBox, formDialog, messageArea, notice, pageTitle, setFlash, takeFlash } from "../ui.js";

const LIST_NAME = "[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}";
const expired = (iso) => new Date(iso) <= new Date();
const time = (iso) => (iso ? h("time", { datetime: iso, title: iso }, when(iso)) : "—");

/**
 * An entry as the API takes it back (OWNER/IMAGE:HYPERVISOR[@VERSION]). Entries of deleted images
 * list nothing and cannot be named again, so they are left out.
 */
export const entrySpecs = (list) => list.images.filter((e) => e.image !== "(deleted)").map((e) => `${e.image}:${e.hypervisor}${e.pinned === null ? "" : `@${e.pinned}`}`);

export async function listsView(ctx) {
  const { session, main } = ctx;
  let lists;
  try {
    lists = await get("/api/lists");
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle("Image lists"), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  lists.sort((a, b) => `${a.owner}/${a.name}`.localeCompare(`${b.owner}/${b.name}`));
  fill(
    main,
    pageTitle("Image lists"),
    takeFlash(),
    h("p", { class: "hint" }, "Signed lists of public images that grid sites subscribe to with vmcatcher or cloudkeeper. Each list follows its images: a new upload raises the list's version."),
    can.createList(session) && h("div", { class: "actions toolbar" }, h("a", { class: "btn", href: "#/lists/new" }, "New list")),
    lists.length === 0
      ? h("p", null, "No image lists yet.")
      : h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "stack lists" },
            h("thead", null, h("tr", null, ["List", "Title", "Version", "Expires"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              null,
              lists.map((l) =>
                h(
                  "tr",
                  null,
                  h("td", { "data-label": "List" }, h("a", { href: ctx.href("/lists", l.owner, l.name) }, `${l.owner}/${l.name}`)),
                  h("td", { "data-label": "Title" }, l.title),
                  h("td", { "data-label": "Version", class: "num" }, String(l.version)),
                  h("td", { "data-label": "Expires" }, time(l.expires), expired(l.expires) && [" ", badge("Expired", "badge-warn")]),
                ),
              ),
            ),
          ),
        ),
  );
}

export async function listView(ctx, owner, name) {
  const { session, main } = ctx;
  const msg = messageArea();
  let l;
  try {
    l = await get(paths.list(owner, name));
  } catch (e) {
    if (ctx.current()) fill(main, h("p", { class: "crumbs" }, h("a", { href: "#/lists" }, "Image lists"), " / "), pageTitle(`${owner}/${name}`), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const mayChange = can.changeList(session, l);
  const row = (label, value) => [h("dt", null, label), h("dd", null, value === null || value === undefined || value === "" ? "—" : value)];

  async function remove() {
    const ok = await confirmDialog({
      title: `Withdraw ${l.owner}/${l.name}?`,
      body: [h("p", null, "Sites subscribed to ", h("code", null, l.url), " get no more updates. It cannot be undone."), h("p", null, `Its ${plural(l.images.length, "image")} are not touched.`)],
      confirm: "Delete list",
      danger: true,
    });
    if (!ok) return;
    try {
      await api("DELETE", paths.list(l.owner, l.name));
      setFlash(`Deleted image list ${l.owner}/${l.name}.`);
      ctx.navigate("#/lists");
    } catch (e) {
      msg.error(e, "Delete");
    }
  }

  const entries = l.images.map((e) => {
    const [imgOwner, imgName] = e.image.split("/");
    return h(
      "tr",
      { class: e.omitted ? "omitted" : false },
      h("td", { "data-label": "Image" }, imgName ? h("a", { href: ctx.href("/images", imgOwner, imgName) }, e.image) : e.image),
      h("td", { "data-label": "Hypervisor" }, e.hypervisor),
      h("td", { "data-label": "Follows" }, e.pinned === null ? "the current version" : `version ${e.pinned} (pinned)`),
      h(
        "td",
        { "data-label": "Listed" },
        e.omitted ? [badge("Omitted", "badge-warn"), " ", e.omitted] : [`version ${e.version}, ${bytes(e.size)} `, h("code", { class: "hash", title: `SHA-512 ${e.sha512}` }, `sha512:${e.sha512.slice(0, 16)}…`)],
      ),
    );
  });

  fill(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/lists" }, "Image lists"), " / ", l.owner, " / "),
    h("div", { class: "page-head" }, pageTitle(l.title), h("div", { class: "badges" }, badge(`version ${l.version}`), expired(l.expires) && badge("Expired", "badge-warn"))),
    takeFlash(),
    msg.el,
    mayChange &&
      h(
        "div",
        { class: "actions toolbar", role: "group", "aria-label": "List actions" },
        h("a", { class: "btn", href: ctx.href("/lists", l.owner, l.name, "edit") }, "Edit list"),
        h("button", { type: "button", class: "btn btn-danger", onclick: remove }, "Delete list"),
      ),
    expired(l.expires) && notice(`This list expired on ${when(l.expires)}: sites refuse it until ${mayChange ? "you give it" : "it is given"} a later expiry.`, "warn"),
    h(
      "section",
      { class: "card", "aria-labelledby": "subscribe-h" },
      h("h2", { id: "subscribe-h" }, "Subscribe"),
      commandLine("The signed list: what sites subscribe to", l.url),
      h(
        "p",
        { class: "hint" },
        "A site authorises the endorser (the signer's subject and issuer, hv:dn and hv:ca in the list), then subscribes with ",
        h("code", null, "vmcatcher_subscribe -s URL"),
        " or lists the URL under ",
        h("code", null, "image-lists:"),
        " in cloudkeeper.yml. To check it by hand: ",
        h("code", null, "openssl smime -verify -in image.list -CApath /etc/grid-security/certificates"),
        ". The same document unsigned: ",
        h("a", { href: new URL(l.json_url).pathname }, "image.json"),
        ". More in Repoman's documentation, docs/grid-sites.md.",
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "entries-h" },
      h("h2", { id: "entries-h" }, `Images (${l.images.length})`),
      h("p", { class: "hint" }, "What each entry lists now. An entry lists nothing while its image is not public or has expired, or when the version it is pinned to is no longer kept."),
      entries.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "stack entries" }, h("thead", null, h("tr", null, ["Image", "Hypervisor", "Follows", "Listed"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", null, entries)))
        : h("p", null, "No images listed."),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "details-h" },
      h("h2", { id: "details-h" }, "Details"),
      h(
        "dl",
        { class: "details" },
        row("Name", `${l.owner}/${l.name}`),
        row("Title", l.title),
        row("Description", l.description ? h("span", { class: "pre" }, l.description) : null),
        row("Owner", session.me ? h("a", { href: ctx.href("/users", l.owner) }, l.owner) : l.owner),
        row("Group", l.group ? (session.me ? h("a", { href: ctx.href("/groups", l.group) }, l.group) : l.group) : "none — only its owner and admins change it"),
        row("Version", String(l.version)),
        row("Expires", time(l.expires)),
        row("Signed", time(l.signed)),
        row("Modified", time(l.modified)),
        row("Created", time(l.created)),
        row("Identifier", h("code", null, l.identifier)),
      ),
    ),
  );
}

/** Create a list (existing = null), or edit one. ?image=OWNER/IMAGE:HV pre-fills a new list's entries. */
export async function listFormView(ctx, existing) {
  const { session, main } = ctx;
  const heading = existing ? `Edit ${existing.owner}/${existing.name}` : "New image list";
  let l = null;
  if (existing) {
    try {
      l = await get(paths.list(existing.owner, existing.name));
    } catch (e) {
      if (ctx.current()) fill(main, pageTitle(heading), errorBox(e));
      return;
    }
    if (!ctx.current()) return;
    if (!can.changeList(session, l)) {
      fill(main, pageTitle(heading), errorBox(new ApiError(session.me ? 403 : 401, "forbidden", session.me ? "only the list's owner, members of its group and admins may change it" : "sign in with your certificate to change image lists")));
      return;
    }
  } else if (!can.createList(session)) {
    fill(main, pageTitle(heading), errorBox(new ApiError(session.me ? 403 : 401, "forbidden", session.me ? "you do not hold the 'image_create' permission" : "sign in with your certificate to publish image lists")));
    return;
  }
  // The server accepts only groups the publisher belongs to (any group for admins).
  let groups = session.groups;
  if (session.isAdmin) groups = await get("/api/groups").then((g) => g.map(lastSegment), () => session.groups);
  if (!ctx.current()) return;
  if (l?.group && !groups.includes(l.group)) groups = [...groups, l.group];

  const msg = messageArea();
  const text = (name, value, props = {}) => h("input", { type: "text", name, value: value ?? "", autocomplete: "off", spellcheck: "false", ...props });
  const initialExpires = l ? l.expires.replace(/\.\d{3}Z$/, "Z") : "";
  const prefill = l ? entrySpecs(l) : ctx.query.getAll("image");
  const form = h(
    "form",
    { class: "image-form" },
    !l && field("Name", text("name", "", { required: true, pattern: LIST_NAME, maxlength: "64" }), `The list's address: /api/lists/${session.name}/NAME/image.list. Letters, digits, '.', '_' or '-'.`),
    field("Title", text("title", l?.title, { required: true, maxlength: "256", spellcheck: "true" })),
    field("Description", h("textarea", { name: "description", rows: "3", maxlength: "4096" }, l?.description ?? "")),
    h(
      "div",
      { class: "field-row" },
      field("Expires", text("expires", initialExpires, { placeholder: "e.g. 2030-01-31 or 2030-01-31T12:00:00Z" }), l ? "Sites refuse the list after this time." : "Empty: 28 days from now. Sites refuse the list after this time."),
      field("Group", select("group", [["", "No group"], ...groups.map((g) => [g, g])], l?.group ?? ""), "Its members may change the list too."),
    ),
    field(
      "Images",
      h("textarea", { name: "images", rows: "6", spellcheck: "false", placeholder: "alice/sl6.img:kvm\nalice/cernvm.img@3" }, prefill.join("\n")),
      "One per line: OWNER/IMAGE[:HYPERVISOR][@VERSION]. Only public images. The hypervisor is needed when the image has files for several; @VERSION pins the entry, else it follows the current version.",
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "btn" }, l ? "Save changes" : "Publish list"),
      h("a", { class: "btn btn-secondary", href: l ? ctx.href("/lists", l.owner, l.name) : "#/lists" }, "Cancel"),
    ),
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const value = (k) => String(fd.get(k) ?? "").trim();
    const body = {
      title: value("title"),
      description: String(fd.get("description") ?? ""),
      group: value("group") || null,
      images: value("images").split(/\s*\n\s*/).filter(Boolean),
    };
    if (value("expires") !== initialExpires && value("expires")) body.expires = value("expires");
    if (!l) body.name = value("name");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { data } = l ? await api("POST", paths.list(l.owner, l.name), { json: body }) : await api("POST", "/api/lists", { json: body });
      setFlash(l ? `Saved; the list is at version ${data.version}.` : `Published ${data.owner}/${data.name}.`);
      ctx.navigate(ctx.href("/lists", data.owner, data.name));
    } catch (err) {
      msg.error(err, l ? "Saving" : "Publishing");
    } finally {
      button.disabled = false;
    }
  });

  fill(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/lists" }, "Image lists"), " / ", l && [h("a", { href: ctx.href("/lists", l.owner, l.name) }, `${l.owner}/${l.name}`), " / "]),
    pageTitle(heading),
    msg.el,
    form,
  );
}

/**
 * "Add to a list" on a public image's page: the lists the visitor may change, the hypervisor's
 * file, current or pinned; or a new list with this entry. Resolves to a message, or null.
 */
export async function addToList(ctx, img) {
  const { session } = ctx;
  const withFiles = img.hypervisor.split(",").filter((hv) => img.files?.[hv]);
  const summaries = await get("/api/lists");
  const mine = (await Promise.all(summaries.map((s) => get(paths.list(s.owner, s.name))))).filter((l) => can.changeList(session, l));
  if (!mine.length && !can.createList(session)) throw new ApiError(403, "forbidden", "there is no image list you may change, and you may not publish one (that needs the 'image_create' permission)");
  const NEW = "\u0000new";
  const data = await formDialog({
    title: `Add ${img.name} to an image list`,
    fields: [
      field("List", select("list", [...mine.map((l) => [`${l.owner}/${l.name}`, `${l.owner}/${l.name} — ${l.title}`]), ...(can.createList(session) ? [[NEW, "A new list…"]] : [])], mine.length ? `${mine[0].owner}/${mine[0].name}` : NEW)),
      field("Hypervisor", select("hypervisor", withFiles.map((hv) => [hv, `${hv} (version ${img.files[hv].version})`]), withFiles[0])),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "pin" }), " Pin to the current version (else the list follows new uploads)"),
    ],
    submit: "Add",
  });
  if (!data) return null;
  const hv = String(data.get("hypervisor"));
  const spec = `${img.owner_user_name}/${img.name}:${hv}${data.get("pin") ? `@${img.files[hv].version}` : ""}`;
  const target = String(data.get("list"));
  if (target === NEW) {
    ctx.navigate(`#/lists/new?${new URLSearchParams({ image: spec })}`);
    return null;
  }
  const l = mine.find((x) => `${x.owner}/${x.name}` === target);
  // One file appears once per list: adding it again replaces how it is listed.
  const others = entrySpecs(l).filter((s) => s.replace(/@\d+$/, "") !== `${img.owner_user_name}/${img.name}:${hv}`);
  const { data: saved } = await api("POST", paths.list(l.owner, l.name), { json: { images: [...others, spec] } });
  return h("span", null, `Added ${spec} to `, h("a", { href: ctx.href("/lists", saved.owner, saved.name) }, `${saved.owner}/${saved.name}`), ` (now version ${saved.version}).`);
}
