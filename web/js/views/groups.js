// Groups: the list (create), and one group's page: members, permissions, rename, delete.
import { api, ApiError, get, lastSegment, paths } from "../api.js";
import { h, fill, field } from "../dom.js";
import { can, permissions } from "../can.js";
import { badge, busy, confirmDialog, errorBox, formDialog, messageArea, pageTitle, setFlash, takeFlash } from "../ui.js";


export async function groupsView(ctx) {
  const { session, main } = ctx;
  if (!session.me) return fill(main, pageTitle("Groups"), errorBox(new ApiError(401, "unauthorized", "sign in with your certificate to see groups")));
  const msg = messageArea();
  let groups, all;
  const load = async () => {
    const names = (await get("/api/groups")).map(lastSegment);
    [groups, all] = await Promise.all([Promise.all(names.map((n) => get(paths.group(n)))), permissions()]);
  };
  try {
    await load();
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle("Groups"), errorBox(e));
    return;
  }
  if (!ctx.current()) return;

  let createForm = null;
  if (can.createGroup(session)) {
    const grantable = all.filter((p) => session.isAdmin || session.perms.has(p.name));
    createForm = h(
      "form",
      { class: "stack-form" },
      h("div", { class: "field-row" }, field("Group name", h("input", { type: "text", name: "name", required: true, pattern: "[A-Za-z0-9_\\-]{1,64}", autocomplete: "off" })), field("Members", h("input", { type: "text", name: "users", placeholder: "alice, bob", autocomplete: "off" }), "Comma-separated user names.")),
      h("fieldset", { class: "checks" }, h("legend", null, "Permissions"), h("div", { class: "perm-grid" }, grantable.map((p) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "permissions", value: p.name }), h("span", null, ` ${p.name}`, h("small", null, p.description)))))),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Create group")),
    );
    createForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(createForm);
      const body = { name: String(fd.get("name")).trim(), permissions: fd.getAll("permissions").map(String) };
      const users = String(fd.get("users") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      if (users.length) body.users = users;
      await busy(createForm.querySelector("button[type=submit]"), async () => {
        try {
          await api("POST", "/api/groups", { json: body });
          setFlash(`Created group ${body.name}.`);
          ctx.navigate(ctx.href("/groups", body.name));
        } catch (err) {
          msg.error(err, "Creating the group");
        }
      });
    });
  }

  fill(
    main,
    pageTitle("Groups"),
    takeFlash(),
    msg.el,
    createForm && h("details", { class: "card" }, h("summary", null, h("strong", null, "Create a group")), createForm),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "stack groups" },
        h("thead", null, h("tr", null, ["Group", "Members", "Permissions"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          null,
          groups.map((g) =>
            h(
              "tr",
              null,
              h("td", { "data-label": "Group" }, h("a", { href: ctx.href("/groups", g.name) }, g.name), " ", g.protected && badge("built-in"), session.groups.includes(g.name) && badge("member", "badge-shared")),
              h("td", { "data-label": "Members" }, g.users.map(lastSegment).join(", ") || "—"),
              h("td", { "data-label": "Permissions" }, g.permissions.join(", ") || "—"),
            ),
          ),
        ),
      ),
    ),
  );
}

export async function groupView(ctx, name) {
  const { session, main } = ctx;
  if (!session.me) return fill(main, pageTitle(name), errorBox(new ApiError(401, "unauthorized", "sign in with your certificate to see groups")));
  const msg = messageArea();
  let g;
  let allUsers = [];
  let all;
  try {
    [g, allUsers, all] = await Promise.all([get(paths.group(name)), get("/api/users").then((u) => u.map(lastSegment), () => []), permissions()]);
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle(name), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const flash = takeFlash();

  const act = (button, fn, ok) =>
    busy(button, async () => {
      try {
        g = await fn();
        if (g?.name === undefined) g = await get(paths.group(name));
        if (session.groups.includes(name) || g.users.map(lastSegment).includes(session.name)) await ctx.refreshSession();
        draw();
        msg.ok(ok);
      } catch (e) {
        msg.error(e);
      }
    });

  const draw = () => {
    const members = g.users.map(lastSegment);
    const mayMembers = can.changeMembers(session, g.name);
    const memberInput = h("input", { type: "text", name: "user", list: "group-user-list", required: true, autocomplete: "off", spellcheck: "false", placeholder: "user name" });
    const addForm =
      mayMembers &&
      h(
        "form",
        {
          class: "inline-form",
          onsubmit: async (e) => {
            e.preventDefault();
            const user = memberInput.value.trim();
            if (user) await act(e.currentTarget.querySelector("button"), async () => (await api("POST", paths.member(g.name, user))).data, `Added ${user} to ${g.name}.`);
          },
        },
        field("Add a member", memberInput, "Type to search user names."),
        h("datalist", { id: "group-user-list" }, allUsers.filter((u) => !members.includes(u)).map((u) => h("option", { value: u }))),
        h("button", { type: "submit", class: "btn" }, "Add"),
      );
    const perms = all.map(({ name: p, description }) => {
      const allowed = can.changePermission(session, g.name, p);
      const box = h("input", {
        type: "checkbox",
        name: p,
        checked: g.permissions.includes(p),
        disabled: !allowed,
        onchange: async (e) => {
          const on = e.currentTarget.checked;
          await act(e.currentTarget, async () => (await api(on ? "POST" : "DELETE", paths.permission(g.name, p))).data, `${on ? "Granted" : "Revoked"} ${p} ${on ? "to" : "from"} ${g.name}.`);
        },
      });
      return h("label", { class: "check" }, box, h("span", null, ` ${p}`, h("small", null, description)));
    });
    fill(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "#/groups" }, "Groups"), " / "),
      h("div", { class: "page-head" }, pageTitle(g.name), g.protected && badge("built-in")),
      flash,
      msg.el,
      (can.renameGroup(session, g.name) || can.deleteGroup(session, g.name)) &&
        h(
          "div",
          { class: "actions toolbar" },
          can.renameGroup(session, g.name) && h("button", { type: "button", class: "btn btn-secondary", onclick: rename }, "Rename"),
          can.deleteGroup(session, g.name) && h("button", { type: "button", class: "btn btn-danger", onclick: remove }, "Delete group"),
        ),
      can.readAudit(session) && h("p", { class: "audit-link" }, h("a", { href: ctx.href("/audit", new URLSearchParams({ target: `group ${g.name}` })) }, "Audit history"), ": every change to this group, its members and its permissions."),
      h(
        "section",
        { class: "card", "aria-labelledby": "m-h" },
        h("h2", { id: "m-h" }, `Members (${members.length})`),
        members.length
          ? h(
              "ul",
              { class: "shares" },
              members.map((m) =>
                h(
                  "li",
                  null,
                  h("a", { href: ctx.href("/users", m) }, m),
                  mayMembers &&
                    h(
                      "button",
                      {
                        type: "button",
                        class: "btn btn-small btn-secondary",
                        "aria-label": `Remove ${m} from ${g.name}`,
                        onclick: (e) => act(e.currentTarget, async () => (await api("DELETE", paths.member(g.name, m))).data, `Removed ${m} from ${g.name}.`),
                      },
                      "Remove",
                    ),
                ),
              ),
            )
          : h("p", null, "No members."),
        addForm,
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "p-h" },
        h("h2", { id: "p-h" }, "Permissions"),
        h("p", { class: "hint" }, g.name === "admins" ? "Members of admins may do everything, whatever is ticked here." : "Members hold the union of their groups' permissions. You can change only permissions you hold."),
        h("fieldset", { class: "checks" }, h("legend", { class: "visually-hidden" }, `Permissions of ${g.name}`), h("div", { class: "perm-grid" }, perms)),
      ),
    );
  };

  async function rename() {
    const input = h("input", { name: "new_name", value: g.name, required: true, pattern: "[A-Za-z0-9_\\-]{1,64}", autocomplete: "off" });
    const data = await formDialog({ title: `Rename ${g.name}`, fields: [field("New name", input)], submit: "Rename" });
    const newName = data?.get("new_name")?.toString().trim();
    if (!newName || newName === g.name) return;
    try {
      await api("POST", paths.group(g.name), { json: { new_name: newName } });
      await ctx.refreshSession();
      setFlash(`Renamed to ${newName}.`);
      ctx.navigate(ctx.href("/groups", newName), { replace: true });
    } catch (e) {
      msg.error(e, "Rename");
    }
  }

  async function remove() {
    if (!(await confirmDialog({ title: `Delete ${g.name}?`, body: h("p", null, `Members lose the permissions of ${g.name}, and images shared with it are no longer shared with them. It cannot be undone.`), confirm: "Delete group", danger: true }))) return;
    try {
      await api("DELETE", paths.group(g.name));
      await ctx.refreshSession();
      setFlash(`Deleted group ${g.name}.`);
      ctx.navigate("#/groups");
    } catch (e) {
      msg.error(e, "Delete");
    }
  }

  draw();
}
