// Create an image, or edit one's metadata (including rename and transfer).
import { api, ApiError, get, paths } from "../api.js";
import { h, fill, field, select } from "../dom.js";
import { can, imageChoices, imagePowers, imageSchema } from "../can.js";
import { confirmDialog, errorBox, messageArea, notice, pageTitle } from "../ui.js";

export async function imageFormView(ctx, existing) {
  const { session, main } = ctx;
  let img = null;
  if (existing) {
    try {
      img = await get(paths.image(existing.owner, existing.name) + "?timestamps=iso");
    } catch (e) {
      if (ctx.current()) fill(main, pageTitle("Edit image"), errorBox(e));
      return;
    }
    const powers = await imagePowers(session, img);
    if (!ctx.current()) return;
    if (!powers.modify) {
      fill(main, pageTitle(`Edit ${img.name}`), errorBox(new ApiError(403, "forbidden", session.me ? "you may not modify this image" : "sign in with your certificate to modify images")), h("p", null, h("a", { href: ctx.href("/images", img.owner_user_name, img.name) }, "Back to the image")));
      return;
    }
    // The server refuses every metadata change to a read-only image, so no form is offered that
    // could only fail: making it writable is a button on the image's page.
    if (img.read_only) {
      fill(
        main,
        pageTitle(`Edit ${img.name}`),
        notice("This image is read-only: its metadata cannot be changed until it is made writable (on its page, by its owner or an admin)."),
        h("p", null, h("a", { href: ctx.href("/images", img.owner_user_name, img.name) }, "Back to the image")),
      );
      return;
    }
  } else if (!can.createImage(session)) {
    fill(main, pageTitle("New image"), errorBox(new ApiError(session.me ? 403 : 401, "forbidden", session.me ? "you do not hold the 'image_create' permission" : "sign in with your certificate to create images")));
    return;
  }

  let schema;
  try {
    schema = await imageSchema();
  } catch (e) {
    if (ctx.current()) fill(main, pageTitle(img ? `Edit ${img.name}` : "New image"), errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const { osArches, hypervisors } = imageChoices(schema);
  const msg = messageArea();
  const hvs = img ? img.hypervisor.split(",") : ["xen"];
  const text = (name, value, props = {}) => h("input", { type: "text", name, value: value ?? "", autocomplete: "off", spellcheck: "false", ...props });
  const expiresValue = img?.expires ? img.expires.replace(/\.\d{3}Z$/, "Z") : "";
  const form = h(
    "form",
    { class: "image-form", novalidate: false },
    field("Name", text("name", img?.name, { required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}", maxlength: "128" }), img ? "Changing the name renames the image; files are kept." : "Letters, digits, '.', '_' or '-', starting with a letter or digit."),
    !img && can.createImageForOthers(session) && field("Owner", text("user_name", "", { placeholder: session.name, pattern: "[A-Za-z0-9_\\-]{1,64}" }), "Admins may create the image in another user's namespace; empty = yours."),
    img && field("Owner", text("owner", img.owner_user_name, { required: true, pattern: "[A-Za-z0-9_\\-]{1,64}" }), "Change it to transfer the image to another user."),
    field("Description", h("textarea", { name: "description", rows: "4", maxlength: String(schema.properties.description.maxLength) }, img?.description ?? "")),
    h(
      "div",
      { class: "field-row" },
      field("OS type", text("os_type", img?.os_type, { placeholder: "e.g. linux", maxlength: "64" })),
      field("OS variant", text("os_variant", img?.os_variant, { placeholder: "e.g. sl6", maxlength: "64" })),
      // The API has no way to clear an architecture once set, so "Not set" is offered only until then.
      field("Architecture", select("os_arch", [...(img?.os_arch ? [] : [["", "Not set"]]), ...osArches.map((a) => [a, a])], img?.os_arch ?? "")),
    ),
    h(
      "fieldset",
      { class: "checks" },
      h("legend", null, "Hypervisors"),
      h("small", { class: "hint" }, img ? "One file per hypervisor. Unticking a hypervisor deletes its file." : "One file per hypervisor."),
      h("div", { class: "check-grid" }, hypervisors.map((hv) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "hypervisor", value: hv, checked: hvs.includes(hv) }), ` ${hv}`))),
    ),
    h(
      "fieldset",
      { class: "checks" },
      h("legend", null, "Access"),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "unauthenticated_access", checked: !!img?.unauthenticated_access }), " Public: anyone may download it without a certificate"),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "read_only", checked: !!img?.read_only }), " Read-only: no uploads, changes or deletion"),
      h("small", { class: "hint" }, "Until it is made writable again, which only the owner or an admin can do. Sharing still works."),
    ),
    h(
      "div",
      { class: "field-row" },
      field("Expires", text("expires", expiresValue, { placeholder: "e.g. 2030-01-31 or 2030-01-31T12:00:00Z" }), "After this time only the owner and admins see the image. Empty: never."),
      field(
        "Versions to keep",
        h("input", { type: "number", name: "keep_versions", min: "0", max: "100000", step: "1", value: img?.keep_versions ?? "", placeholder: "server default", inputmode: "numeric" }),
        "Per hypervisor; older versions are deleted. 0 keeps every version; empty: the server's default.",
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "btn" }, img ? "Save changes" : "Create image"),
      h("a", { class: "btn btn-secondary", href: img ? ctx.href("/images", img.owner_user_name, img.name) : "#/" }, "Cancel"),
    ),
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(form);
    const value = (k) => String(fd.get(k) ?? "").trim();
    const hypervisor = fd.getAll("hypervisor").map(String);
    if (hypervisor.length === 0) {
      msg.error(new ApiError(400, "bad_request", "choose at least one hypervisor"));
      return;
    }
    const body = {
      description: String(fd.get("description") ?? ""),
      os_type: value("os_type"),
      os_variant: value("os_variant"),
      hypervisor,
      unauthenticated_access: fd.get("unauthenticated_access") === "on",
      read_only: fd.get("read_only") === "on",
    };
    if (value("os_arch")) body.os_arch = value("os_arch");
    if (value("expires") || img?.expires) body.expires = value("expires");
    // Empty means the server's default, which is null in the API (not 0, which keeps them all).
    const keep = value("keep_versions");
    if (keep !== "" || img?.keep_versions !== undefined) body.keep_versions = keep === "" ? null : Number(keep);
    if (!img) {
      body.name = value("name");
      if (value("user_name")) body.user_name = value("user_name");
      if (!body.os_type) delete body.os_type;
      if (!body.os_variant) delete body.os_variant;
    } else {
      if (value("name") !== img.name) body.name = value("name");
      if (value("owner") !== img.owner_user_name) body.owner = value("owner");
      const dropped = img.hypervisor.split(",").filter((hv) => !hypervisor.includes(hv) && img.files?.[hv]);
      if (dropped.length) {
        const ok = await confirmDialog({
          title: "Delete files?",
          body: h("p", null, `Removing ${dropped.join(", ")} deletes the uploaded file${dropped.length > 1 ? "s" : ""} for ${dropped.length > 1 ? "them" : "it"}. This cannot be undone.`),
          confirm: "Remove and delete",
          danger: true,
        });
        if (!ok) return;
      }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { data } = img ? await api("POST", paths.image(img.owner_user_name, img.name), { json: body }) : await api("POST", "/api/images", { json: body });
      ctx.navigate(ctx.href("/images", data.owner_user_name, data.name));
    } catch (err) {
      msg.error(err, img ? "Saving" : "Creating");
    } finally {
      button.disabled = false;
    }
  });

  fill(
    main,
    img && h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Images"), " / ", h("a", { href: ctx.href("/images", img.owner_user_name, img.name) }, `${img.owner_user_name}/${img.name}`), " / "),
    pageTitle(img ? `Edit ${img.name}` : "New image"),
    msg.el,
    form,
  );
}
