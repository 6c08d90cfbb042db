// Users: the list (admins create, suspend, edit DNs, delete), and one user's page, which is also
// "My account" (#/me).
import { api, ApiError, get, lastSegment, paths } from "../api.js";
import { h, fill, field } from "../dom.js";
import { can } from "../can.js";
import { bytes, when } from "../format.js";
import { badge, busy, confirmDialog, errorBox, formDialog, messageArea, pageTitle } from "../ui.js";

const needSignIn = (main, title) => fill(main, pageTitle(title), errorBox(new ApiError(401, "unauthorized", "sign in with your certificate to see users")));

export async function usersView(ctx) {
  const { session, main } = ctx;
  if (!session.me) return needSignIn(main, "Users");
  const msg = messageArea();
  const tableSlot = h("div");
  const search = h("input", { type: "search", placeholder: "Name, DN or email", autocomplete: "off" });
  let users = [];

  const load = async () => {
    users = await get("/api/users?detail=true&timestamps=iso");
    draw();
  };
  const act = (button, fn, ok) =>
    busy(button, async () => {
      try {
        await fn();
        await load();
        msg.ok(ok);
      } catch (e) {
        msg.error(e);
      }
    });

  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = users.filter((u) => !needle || [u.user_name, u.full_name, u.client_dn, u.email ?? ""].some((v) => v.toLowerCase().includes(needle)));
    const rows = shown.map((u) => {
      const actions = [];
      if (can.suspendUser(session, u.user_name)) {
        actions.push(
          h(
            "button",
            {
              type: "button",
              class: `btn btn-small ${u.suspended ? "" : "btn-secondary"}`,
              "aria-label": `${u.suspended ? "Reactivate" : "Suspend"} ${u.user_name}`,
              onclick: async (e) => {
                const button = e.currentTarget;
                if (!u.suspended && !(await confirmDialog({ title: `Suspend ${u.user_name}?`, body: h("p", null, `${u.user_name} will be refused from their next request until reactivated. Their images stay.`), confirm: "Suspend", danger: true }))) return;
                await act(button, () => api("POST", paths.user(u.user_name), { json: { suspended: !u.suspended } }), `${u.user_name} is ${u.suspended ? "active again" : "suspended"}.`);
              },
            },
            u.suspended ? "Reactivate" : "Suspend",
          ),
        );
      }
      if (can.editUserDn(session)) {
        actions.push(
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small btn-secondary",
              "aria-label": `Edit the DN of ${u.user_name}`,
              onclick: async (e) => {
                const button = e.currentTarget;
                const input = h("input", { name: "cert_dn", value: u.client_dn, required: true, spellcheck: "false", autocomplete: "off" });
                const data = await formDialog({ title: `Certificate DN of ${u.user_name}`, fields: [field("Certificate DN", input, "OpenSSL form (/C=CA/O=Grid/CN=Jane Doe) or RFC 2253 (CN=Jane Doe,O=Grid,C=CA).")] });
                const dn = data?.get("cert_dn")?.toString().trim();
                if (!dn || dn === u.client_dn) return;
                await act(button, () => api("POST", paths.user(u.user_name), { json: { cert_dn: dn } }), `Changed the DN of ${u.user_name}.`);
              },
            },
            "Edit DN",
          ),
        );
      }
      if (can.deleteUser(session, u.user_name)) {
        actions.push(
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small btn-danger",
              "aria-label": `Delete ${u.user_name}`,
              onclick: async (e) => {
                const button = e.currentTarget;
                if (!(await confirmDialog({ title: `Delete ${u.user_name}?`, body: h("p", null, `This deletes the user ${u.user_name} and all their images. It cannot be undone.`), confirm: "Delete user", danger: true }))) return;
                await act(button, () => api("DELETE", paths.user(u.user_name)), `Deleted ${u.user_name}.`);
              },
            },
            "Delete",
          ),
        );
      }
      return h(
        "tr",
        { dataset: { user: u.user_name } },
        h("td", { "data-label": "User" }, h("a", { href: ctx.href("/users", u.user_name) }, u.user_name), u.full_name ? h("div", { class: "hint" }, u.full_name) : null),
        h("td", { "data-label": "Certificate DN" }, h("code", { class: "hash" }, u.client_dn)),
        h("td", { "data-label": "Groups" }, u.groups.map(lastSegment).join(", ")),
        h("td", { "data-label": "Status" }, u.suspended ? badge("Suspended", "badge-suspended") : "Active"),
        h("td", { "data-label": "Actions" }, h("div", { class: "cell-inner" }, actions)),
      );
    });
    fill(
      tableSlot,
      h("p", { class: "results-count", role: "status" }, `${shown.length} of ${users.length} users`),
      h("div", { class: "table-wrap" }, h("table", { class: "stack users" }, h("thead", null, h("tr", null, ["User", "Certificate DN", "Groups", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", null, rows))),
    );
  };
  search.addEventListener("input", draw);

  let createForm = null;
  if (can.createUser(session)) {
    const text = (name, props = {}) => h("input", { type: "text", name, autocomplete: "off", spellcheck: "false", ...props });
    createForm = h(
      "form",
      { class: "stack-form" },
      h("div", { class: "field-row" }, field("User name", text("user_name", { required: true, pattern: "[A-Za-z0-9_\\-]{1,64}" })), field("Full name", text("full_name")), field("Email", text("email", { type: "email" }))),
      field("Certificate DN", text("cert_dn", { required: true, placeholder: "/C=CA/O=Grid/CN=Jane Doe" }), "The subject of the user's certificate; their proxies log them in too."),
      field("Extra groups", text("groups", { placeholder: "e.g. atlas, cms" }), "Comma-separated; every user is in 'users'."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Create user")),
    );
    createForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(createForm);
      const body = {};
      for (const k of ["user_name", "cert_dn", "full_name", "email", "groups"]) {
        const v = String(fd.get(k) ?? "").trim();
        if (v) body[k] = v;
      }
      await busy(createForm.querySelector("button[type=submit]"), async () => {
        try {
          await api("POST", "/api/users", { json: body });
          createForm.reset();
          await load();
          msg.ok(`Created user ${body.user_name}.`);
        } catch (err) {
          msg.error(err, "Creating the user");
        }
      });
    });
  }

  try {
    users = await get("/api/users?detail=true&timestamps=iso");
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle("Users"), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  fill(
    main,
    pageTitle("Users"),
    msg.el,
    createForm && h("details", { class: "card" }, h("summary", null, h("strong", null, "Create a user")), createForm),
    h("div", { class: "filters" }, field("Find users", search)),
    tableSlot,
  );
  draw();
}

export async function userView(ctx, name) {
  const { session, main } = ctx;
  if (!session.me) return needSignIn(main, name || "My account");
  const msg = messageArea();
  let u;
  const load = async () => {
    u = await get(`${paths.user(name)}?timestamps=iso`);
  };
  try {
    await load();
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle(name), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const self = name === session.name;

  const draw = () => {
    const row = (label, value) => [h("dt", null, label), h("dd", null, value === null || value === undefined || value === "" ? "—" : value)];
    const groups = u.groups.map(lastSegment);
    const form = editForm();
    fill(
      main,
      !self && h("p", { class: "crumbs" }, h("a", { href: "#/users" }, "Users"), " / "),
      h("div", { class: "page-head" }, pageTitle(self ? `My account (${u.user_name})` : u.user_name), u.suspended && badge("Suspended", "badge-suspended")),
      msg.el,
      h(
        "section",
        { class: "card", "aria-labelledby": "u-h" },
        h("h2", { id: "u-h" }, "Details"),
        h(
          "dl",
          { class: "details" },
          row("User name", u.user_name),
          row("Full name", u.full_name),
          can.seeUserPrivate(session, name) && row("Email", u.email),
          row("Certificate DN", h("code", { class: "hash" }, u.client_dn)),
          row("Status", u.suspended ? "suspended" : "active"),
          row("Groups", groups.length ? groups.map((g, i) => [i ? ", " : "", h("a", { href: ctx.href("/groups", g) }, g)]) : null),
          row("Permissions", u.permissions.length ? u.permissions.join(", ") : "none"),
          u.quota !== null && row("Quota", u.quota === 0 ? "unlimited" : bytes(u.quota)),
          row("Created", when(u.created)),
          row("Images", h("a", { href: ctx.href("/images", new URLSearchParams({ owner: u.user_name })) }, `${u.images.length} visible to you`)),
          can.readAudit(session) &&
            row("Audit log", [
              h("a", { href: ctx.href("/audit", new URLSearchParams({ target: `user ${u.user_name}` })) }, "Changes to this account"),
              " · ",
              h("a", { href: ctx.href("/audit", new URLSearchParams({ user: u.user_name })) }, `Changes made by ${u.user_name}`),
            ]),
        ),
      ),
      form && h("section", { class: "card", "aria-labelledby": "e-h" }, h("h2", { id: "e-h" }, "Edit"), form),
      can.deleteUser(session, name) &&
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              class: "btn btn-danger",
              onclick: async () => {
                if (!(await confirmDialog({ title: `Delete ${name}?`, body: h("p", null, `This deletes the user ${name} and all their images. It cannot be undone.`), confirm: "Delete user", danger: true }))) return;
                try {
                  await api("DELETE", paths.user(name));
                  ctx.navigate("#/users");
                } catch (e) {
                  msg.error(e, "Delete");
                }
              },
            },
            "Delete user",
          ),
        ),
    );
  };

  const editForm = () => {
    const profile = can.editUserProfile(session, name);
    const dn = can.editUserDn(session);
    const suspend = can.suspendUser(session, name);
    const quota = can.setQuota(session);
    if (!profile && !dn && !suspend && !quota) return null;
    const text = (k, value, props = {}) => h("input", { type: "text", name: k, value: value ?? "", autocomplete: "off", ...props });
    const form = h(
      "form",
      { class: "stack-form" },
      profile && h("div", { class: "field-row" }, field("Full name", text("full_name", u.full_name)), field("Email", text("email", u.email, { type: "email" }))),
      dn && field("Certificate DN", text("cert_dn", u.client_dn, { required: true, spellcheck: "false" })),
      quota && field("Quota in bytes", text("quota", String(u.quota ?? 0), { inputmode: "numeric", pattern: "\\d+" }), "0 = unlimited."),
      suspend && h("label", { class: "check" }, h("input", { type: "checkbox", name: "suspended", checked: u.suspended }), " Suspended: refuse every request from this user"),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, "Save")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const fd = new FormData(form);
      const body = {};
      const str = (k) => String(fd.get(k) ?? "").trim();
      if (profile && str("full_name") !== u.full_name) body.full_name = str("full_name");
      if (profile && str("email") && str("email") !== (u.email ?? "")) body.email = str("email");
      if (dn && str("cert_dn") !== u.client_dn) body.cert_dn = str("cert_dn");
      if (quota && Number(str("quota")) !== u.quota) body.quota = Number(str("quota"));
      if (suspend && (fd.get("suspended") === "on") !== u.suspended) body.suspended = fd.get("suspended") === "on";
      if (Object.keys(body).length === 0) {
        msg.ok("Nothing changed.");
        return;
      }
      await busy(form.querySelector("button[type=submit]"), async () => {
        try {
          await api("POST", paths.user(name), { json: body });
          await load();
          if (self) await ctx.refreshSession();
          draw();
          msg.ok("Saved.");
        } catch (err) {
          msg.error(err, "Saving");
        }
      });
    });
    return form;
  };
  draw();
}

