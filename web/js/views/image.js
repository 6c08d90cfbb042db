// Inspect and act: one image's metadata, files, sharing and ready-to-copy commands, with the
// actions the visitor may take (edit, upload, share, publish, rename, delete).
import { api, ApiError, get, lastSegment, paths, uploadFile } from "../api.js";
import { h, fill, field, select, uid } from "../dom.js";
import { can, imagePowers } from "../can.js";
import { bytes, when } from "../format.js";
import { badge, busy, commandLine, confirmDialog, errorBox, formDialog, messageArea, notice, pageTitle, setFlash } from "../ui.js";

const isoQuery = "?timestamps=iso";

export async function imageView(ctx, owner, name) {
  const { session, main } = ctx;
  const msg = messageArea();
  let img;
  try {
    img = await get(paths.image(owner, name) + isoQuery);
  } catch (e) {
    if (!ctx.current()) return;
    if (e instanceof ApiError && e.status === 404) {
      fill(
        main,
        pageTitle("Image not available"),
        h(
          "div",
          { class: "alert alert-error", role: "alert" },
          h("strong", null, "Not found or not allowed. "),
          `The image ${owner}/${name} does not exist, or you are not allowed to see it.`,
          session.me ? null : " You are not signed in: private and shared images need your certificate.",
        ),
        h("p", null, h("a", { href: "#/" }, "Back to the images")),
      );
    } else fill(main, pageTitle("Image"), errorBox(e));
    return;
  }
  const powers = await imagePowers(session, img);
  if (!ctx.current()) return;

  const reload = async () => {
    try {
      img = await get(paths.image(img.owner_user_name, img.name) + isoQuery);
      draw();
    } catch (e) {
      msg.error(e);
    }
  };
  /** Run an API call for an action button, report the outcome, and redraw on success. */
  const act = (button, fn, okText) =>
    busy(button, async () => {
      try {
        await fn();
        await reload();
        msg.ok(okText);
      } catch (e) {
        msg.error(e);
      }
    });

  const sections = h("div", { class: "image-sections" });
  const draw = () => {
    const hypervisors = img.hypervisor.split(",");
    fill(
      main,
      h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Images"), " / ", h("a", { href: ctx.href("/images", new URLSearchParams({ owner: img.owner_user_name })) }, img.owner_user_name), " / "),
      h(
        "div",
        { class: "page-head" },
        pageTitle(img.name),
        h(
          "div",
          { class: "badges" },
          img.unauthenticated_access ? badge("Public", "badge-public") : badge("Private", "badge-private"),
          img.read_only && badge("Read-only"),
          img.expires && new Date(img.expires) <= new Date() && badge("Expired", "badge-warn"),
        ),
      ),
      msg.el,
      actionBar(),
      sections,
    );
    fill(sections, detailsSection(), filesSection(hypervisors), sharingSection(), commandsSection(hypervisors));
  };

  // ---- actions ----
  const actionBar = () => {
    if (!powers.modify && !powers.delete) {
      return session.me ? null : notice("Sign in with your certificate to manage images.");
    }
    const bar = h("div", { class: "actions toolbar", role: "group", "aria-label": "Image actions" });
    if (powers.modify) {
      bar.append(
        h("a", { class: "btn", href: ctx.href("/images", img.owner_user_name, img.name, "edit") }, "Edit metadata"),
        h("button", { type: "button", class: "btn btn-secondary", onclick: rename }, "Rename"),
        h(
          "button",
          { type: "button", class: "btn btn-secondary", onclick: (e) => togglePublic(e.currentTarget) },
          img.unauthenticated_access ? "Make private" : "Make public",
        ),
      );
    }
    if (powers.delete) bar.append(h("button", { type: "button", class: "btn btn-danger", onclick: remove }, "Delete"));
    return bar;
  };

  async function rename() {
    const input = h("input", { name: "name", value: img.name, required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}", spellcheck: "false", autocomplete: "off" });
    const data = await formDialog({ title: `Rename ${img.name}`, fields: [field("New name", input, "Letters, digits, '.', '_' or '-'; renaming never touches the files.")], submit: "Rename" });
    const newName = data?.get("name")?.toString().trim();
    if (!newName || newName === img.name) return;
    try {
      const { data: v } = await api("POST", paths.image(img.owner_user_name, img.name), { json: { name: newName } });
      setFlashOnImage(`Renamed to ${v.name}.`);
      ctx.navigate(ctx.href("/images", v.owner_user_name, v.name), { replace: true });
    } catch (e) {
      msg.error(e, "Rename");
    }
  }

  async function togglePublic(button) {
    const makePublic = !img.unauthenticated_access;
    if (makePublic) {
      const ok = await confirmDialog({
        title: "Make this image public?",
        body: h("p", null, "Anyone will be able to list and download ", h("strong", null, `${img.owner_user_name}/${img.name}`), " without a certificate."),
        confirm: "Make public",
      });
      if (!ok) return;
    }
    await act(button, () => api("POST", paths.image(img.owner_user_name, img.name), { json: { unauthenticated_access: makePublic } }), makePublic ? "The image is now public." : "The image is now private.");
  }

  async function remove() {
    const files = Object.keys(img.files ?? {}).length;
    const ok = await confirmDialog({
      title: `Delete ${img.name}?`,
      body: h("p", null, "This deletes ", h("strong", null, `${img.owner_user_name}/${img.name}`), files ? ` and its ${files === 1 ? "file" : `${files} files`}` : "", ". It cannot be undone."),
      confirm: "Delete image",
      danger: true,
    });
    if (!ok) return;
    try {
      await api("DELETE", paths.image(img.owner_user_name, img.name));
      setFlash(`Deleted ${img.owner_user_name}/${img.name}.`);
      ctx.navigate("#/");
    } catch (e) {
      msg.error(e, "Delete");
    }
  }

  // ---- details ----
  const detailsSection = () => {
    const row = (label, value) => [h("dt", null, label), h("dd", null, value === null || value === undefined || value === "" ? "—" : value)];
    const time = (iso) => (iso ? h("time", { datetime: iso, title: iso }, when(iso)) : null);
    return h(
      "section",
      { class: "card", "aria-labelledby": "details-h" },
      h("h2", { id: "details-h" }, "Details"),
      h(
        "dl",
        { class: "details" },
        row("Name", img.name),
        row("Owner", session.me ? h("a", { href: ctx.href("/users", img.owner_user_name) }, img.owner_user_name) : img.owner_user_name),
        row("Description", img.description ? h("span", { class: "pre" }, img.description) : null),
        row("OS type", img.os_type),
        row("OS variant", img.os_variant),
        row("Architecture", img.os_arch),
        row("Hypervisors", img.hypervisor.split(",").join(", ")),
        row("Read-only", img.read_only ? "yes — uploads are refused" : "no"),
        row("Public", img.unauthenticated_access ? "yes — anyone may download it without a certificate" : "no"),
        row("Expires", img.expires ? time(img.expires) : "never"),
        row("Version", String(img.version)),
        row("Size (latest upload)", img.size === null ? null : `${bytes(img.size)} (${img.size} bytes)`),
        row("Checksum (latest upload)", img.checksum?.value ? h("code", { class: "hash" }, `${img.checksum.type}:${img.checksum.value}`) : null),
        row("Last upload", time(img.uploaded) ?? "never"),
        row("Modified", time(img.modified)),
        row("Created", time(img.created)),
        row("UUID", h("code", null, img.uuid)),
      ),
    );
  };

  // ---- files ----
  let uploading = 0;
  const filesSection = (hypervisors) => {
    const mayUpload = powers.modify && !img.read_only;
    const rows = hypervisors.map((hv) => {
      const f = img.files?.[hv];
      const url = img.file_url.replace("__hypervisor__", encodeURIComponent(hv));
      return h(
        "tr",
        null,
        h("th", { scope: "row", "data-label": "Hypervisor" }, hv),
        h("td", { "data-label": "Size", class: "num", title: f ? `${f.size} bytes` : false }, f ? bytes(f.size) : "no file yet"),
        h("td", { "data-label": "SHA-256" }, f?.checksum?.value ? h("code", { class: "hash" }, f.checksum.value) : "—"),
        h("td", { "data-label": "Uploaded" }, f ? h("time", { datetime: f.uploaded, title: f.uploaded }, when(f.uploaded)) : "—"),
        h("td", { "data-label": "Actions", class: "cell-actions" }, h("div", { class: "cell-inner" }, f && h("a", { class: "btn btn-small btn-secondary", href: new URL(url).pathname, download: img.name, "aria-label": `Download the ${hv} file` }, "Download"), mayUpload && uploader(hv, !!f))),
      );
    });
    return h(
      "section",
      { class: "card", "aria-labelledby": "files-h" },
      h("h2", { id: "files-h" }, "Files"),
      h("p", { class: "hint" }, "One file per hypervisor. Each upload replaces the previous file atomically and raises the version."),
      img.read_only && powers.modify && notice("This image is read-only: uploads are refused until it is made writable (Edit metadata)."),
      h("div", { class: "table-wrap" }, h("table", { class: "files" }, h("thead", null, h("tr", null, ["Hypervisor", "Size", "SHA-256", "Uploaded", "Actions"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", null, rows))),
    );
  };

  const uploader = (hv, replacing) => {
    const input = h("input", { type: "file", id: uid("file"), class: "file-input" });
    const go = h("button", { type: "button", class: "btn btn-small", disabled: true, "aria-label": `${replacing ? "Replace" : "Upload"} the ${hv} file` }, replacing ? "Replace" : "Upload");
    const progress = h("progress", { max: "100", value: "0", hidden: true, "aria-label": `Upload progress for ${hv}` });
    const status = h("span", { class: "upload-status", "aria-live": "polite" });
    const cancel = h("button", { type: "button", class: "btn btn-small btn-secondary", hidden: true, "aria-label": `Cancel the ${hv} upload` }, "Cancel");
    input.addEventListener("change", () => (go.disabled = !input.files?.length));
    const warn = (e) => {
      e.preventDefault();
      e.returnValue = "";
    };
    go.addEventListener("click", async () => {
      const file = input.files?.[0];
      if (!file) return;
      go.disabled = input.disabled = true;
      progress.hidden = cancel.hidden = false;
      progress.value = 0;
      uploading++;
      window.addEventListener("beforeunload", warn);
      const job = uploadFile(paths.raw(img.owner_user_name, hv, img.name), file, (loaded, total) => {
        const pct = total ? Math.floor((loaded / total) * 100) : 0;
        progress.value = pct;
        status.textContent = `${bytes(loaded)} of ${bytes(total)} (${pct}%)`;
      });
      cancel.onclick = () => job.abort();
      try {
        const v = await job.promise;
        progress.value = 100;
        status.textContent = "Done";
        img = v ?? img;
        if (--uploading === 0) window.removeEventListener("beforeunload", warn);
        await reload();
        msg.ok(`Uploaded ${file.name} (${bytes(file.size)}) for ${hv}; sha256 ${v?.files?.[hv]?.checksum?.value ?? ""}.`);
      } catch (e) {
        if (--uploading === 0) window.removeEventListener("beforeunload", warn);
        go.disabled = input.disabled = false;
        cancel.hidden = true;
        status.textContent = "";
        progress.hidden = true;
        msg.error(e, `Upload for ${hv}`);
      }
    });
    return h("div", { class: "uploader" }, h("label", { for: input.id, class: "visually-hidden" }, `File to upload for ${hv}`), input, go, cancel, progress, status);
  };

  // ---- sharing ----
  let allUsers = null;
  let allGroups = null;
  const sharingSection = () => {
    const users = img.shared_with.users.map(lastSegment);
    const groups = img.shared_with.groups.map(lastSegment);
    const sectionEl = h("section", { class: "card", "aria-labelledby": "sharing-h" }, h("h2", { id: "sharing-h" }, "Sharing"));
    if (!session.me && !img.unauthenticated_access) return sectionEl;
    const item = (kind, target) =>
      h(
        "li",
        null,
        h("span", { class: "share-kind" }, kind === "user" ? "user" : "group"),
        " ",
        session.me ? h("a", { href: ctx.href(kind === "user" ? "/users" : "/groups", target) }, target) : target,
        powers.modify &&
          h(
            "button",
            {
              type: "button",
              class: "btn btn-small btn-secondary",
              "aria-label": `Stop sharing with ${kind} ${target}`,
              onclick: (e) => act(e.currentTarget, () => api("DELETE", paths.share(img.owner_user_name, img.name, kind, target)), `No longer shared with ${kind} ${target}.`),
            },
            "Unshare",
          ),
      );
    sectionEl.append(
      users.length + groups.length === 0
        ? h("p", null, img.unauthenticated_access ? "Not shared with anyone in particular; the image is public." : "Not shared: only the owner (and admins) can see it.")
        : h("ul", { class: "shares" }, users.map((u) => item("user", u)), groups.map((g) => item("group", g))),
    );
    if (powers.modify) sectionEl.append(shareForms());
    return sectionEl;
  };

  const shareForms = () => {
    const userInput = h("input", { name: "user", list: "share-users", autocomplete: "off", spellcheck: "false", required: true, placeholder: "user name" });
    const userList = h("datalist", { id: "share-users" });
    const groupSelect = h("select", { name: "group", required: true }, h("option", { value: "" }, "Choose a group…"));
    const fillGroups = (names) => {
      const current = img.shared_with.groups.map(lastSegment);
      for (const g of names.filter((n) => !current.includes(n))) groupSelect.append(h("option", { value: g }, g));
    };
    (allUsers ? Promise.resolve(allUsers) : get("/api/users").then((u) => (allUsers = u.map(lastSegment)))).then(
      (names) => {
        const current = img.shared_with.users.map(lastSegment);
        for (const n of names.filter((n) => n !== img.owner_user_name && !current.includes(n))) userList.append(h("option", { value: n }));
      },
      () => {},
    );
    if (session.isAdmin) {
      (allGroups ? Promise.resolve(allGroups) : get("/api/groups").then((g) => (allGroups = g.map(lastSegment)))).then(fillGroups, () => {});
    } else fillGroups(session.groups);
    const share = (kind, control) => async (e) => {
      e.preventDefault();
      const target = control.value.trim();
      if (!target) return;
      const button = e.currentTarget.querySelector("button");
      await act(button, () => api("POST", paths.share(img.owner_user_name, img.name, kind, target)), `Shared with ${kind} ${target}.`);
    };
    return h(
      "div",
      { class: "share-forms" },
      h("form", { class: "inline-form", onsubmit: share("user", userInput) }, field("Share with a user", userInput, "Type to search user names."), userList, h("button", { type: "submit", class: "btn" }, "Share")),
      h(
        "form",
        { class: "inline-form", onsubmit: share("group", groupSelect) },
        field("Share with a group", groupSelect, session.isAdmin ? "Any group." : "Groups you belong to."),
        h("button", { type: "submit", class: "btn" }, "Share"),
      ),
    );
  };

  // ---- commands ----
  const commandsSection = (hypervisors) => {
    const withFiles = hypervisors.filter((hv) => img.files?.[hv]);
    const lines = [];
    // The repoman client's options: -h HYPERVISOR (when the image has several), -o OWNER (not yours).
    const ownerOpt = img.owner_user_name === session.name ? "" : `-o ${img.owner_user_name} `;
    for (const hv of withFiles) {
      const url = img.file_url.replace("__hypervisor__", encodeURIComponent(hv));
      const suffix = withFiles.length > 1 ? ` (${hv})` : "";
      lines.push(commandLine(`Download with the repoman client${suffix}`, `repoman get-image ${hypervisors.length > 1 ? `-h ${hv} ` : ""}${ownerOpt}${img.name}`));
      lines.push(commandLine(`Download with curl and your certificate${suffix}`, `curl --cert ~/.globus/usercert.pem --key ~/.globus/userkey.pem -O ${url}`));
      if (img.unauthenticated_access && img.http_file_url) {
        const pub = img.http_file_url.replace("__hypervisor__", encodeURIComponent(hv));
        lines.push(commandLine(`Public URL, no certificate needed${suffix}`, pub));
      }
    }
    if (powers.modify && !img.read_only) {
      const hv = hypervisors[0];
      const hvOpt = hypervisors.length > 1 ? `-h ${hv} ` : "";
      lines.push(commandLine(`Upload with the repoman client${hypervisors.length > 1 ? ` (${hv})` : ""}`, `repoman put-image ${hvOpt}${ownerOpt}${img.name} ${img.name}`));
      lines.push(commandLine(`Upload with curl${hypervisors.length > 1 ? ` (${hv})` : ""}`, `curl --cert ~/.globus/usercert.pem --key ~/.globus/userkey.pem -T ${img.name} ${img.file_url.replace("__hypervisor__", encodeURIComponent(hv))}`));
    }
    return h(
      "section",
      { class: "card", "aria-labelledby": "cmd-h" },
      h("h2", { id: "cmd-h" }, "Commands"),
      lines.length ? lines : h("p", null, "No file has been uploaded yet."),
      lines.length > 0 && h("p", { class: "hint" }, "With a grid proxy, use ", h("code", null, "--cert $X509_USER_PROXY"), " instead of the certificate and key."),
    );
  };

  draw();
  const f = takeImageFlash();
  if (f) msg.ok(f);
}

// A message for the image page after a rename (which changes its URL).
let imageFlash = null;
const setFlashOnImage = (t) => (imageFlash = t);
const takeImageFlash = () => {
  const f = imageFlash;
  imageFlash = null;
  return f;
};
