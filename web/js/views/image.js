// Inspect and act: one image's metadata, files, version history, sharing and ready-to-copy
// commands, with the actions the visitor may take (edit, upload, roll back, share, publish,
// freeze, rename, delete).
import { api, ApiError, get, lastSegment, paths, uploadFile } from "../api.js";
import { h, fill, append, field, select, uid } from "../dom.js";
import { can, imagePowers } from "../can.js";
import { bytes, diskFormat, plural, when } from "../format.js";
import { badge, busy, commandLine, confirmDialog, errorBox, formDialog, messageArea, notice, pageTitle, setFlash } from "../ui.js";
import { addToList } from "./lists.js";

const isoQuery = "?timestamps=iso";

export async function imageView(ctx, owner, name) {
  const { session, main } = ctx;
  const msg = messageArea();
  let img;
  try {
    img = await get(paths.image(owner, name) + isoQuery);
  } catch (e) {
    if (ctx.current()) fill(main, unavailable(ctx, session, owner, name, e));
    return;
  }
  // The kept versions of the files, newest first per hypervisor; or the Error that loading them
  // raised, shown in the History section only (the rest of the page still works).
  let versions = [];
  const loadVersions = async () => {
    try {
      versions = await get(paths.versions(img.owner_user_name, img.name) + isoQuery);
    } catch (e) {
      versions = e;
    }
  };
  const [powers] = await Promise.all([imagePowers(session, img), loadVersions()]);
  if (!ctx.current()) return;

  const reload = async () => {
    try {
      img = await get(paths.image(img.owner_user_name, img.name) + isoQuery);
      await loadVersions();
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
    fill(sections, detailsSection(), filesSection(hypervisors), historySection(), sharingSection(), commandsSection(hypervisors), listsSection(hypervisors));
  };

  // ---- actions ----
  // The server lets only the owner or an admin clear read-only; a group power cannot.
  const mayMakeWritable = () => powers.modify && (session.name === img.owner_user_name || session.isAdmin);
  const actionBar = () => {
    if (!powers.modify && !powers.delete) {
      return session.me ? null : notice("Sign in with your certificate to manage images.");
    }
    const bar = h("div", { class: "actions toolbar", role: "group", "aria-label": "Image actions" });
    // Read-only refuses every change but sharing (for admins too), so nothing else is offered.
    if (img.read_only) {
      if (mayMakeWritable()) bar.append(h("button", { type: "button", class: "btn", onclick: (e) => setReadOnly(e.currentTarget, false) }, "Make writable"));
      return [
        bar.childElementCount ? bar : null,
        notice(
          `This image is read-only: no uploads, rollbacks, metadata changes, renaming or deletion${
            mayMakeWritable() ? " until you make it writable" : `; only its owner (${img.owner_user_name}) or an admin can make it writable`
          }. Sharing still works.`,
        ),
      ];
    }
    if (powers.modify) {
      bar.append(
        h("a", { class: "btn", href: ctx.href("/images", img.owner_user_name, img.name, "edit") }, "Edit metadata"),
        h("button", { type: "button", class: "btn btn-secondary", onclick: rename }, "Rename"),
        h(
          "button",
          { type: "button", class: "btn btn-secondary", onclick: (e) => togglePublic(e.currentTarget) },
          img.unauthenticated_access ? "Make private" : "Make public",
        ),
        h("button", { type: "button", class: "btn btn-secondary", onclick: (e) => setReadOnly(e.currentTarget, true) }, "Make read-only"),
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

  async function setReadOnly(button, on) {
    // Someone who could not make it writable again is told so before freezing it.
    if (on && !mayMakeWritable()) {
      const ok = await confirmDialog({
        title: "Make this image read-only?",
        body: h("p", null, `Nothing about it can then be changed, and it cannot be deleted, until its owner (${img.owner_user_name}) or an admin makes it writable again. You cannot.`),
        confirm: "Make read-only",
      });
      if (!ok) return;
    }
    await act(button, () => api("POST", paths.image(img.owner_user_name, img.name), { json: { read_only: on } }), on ? "The image is now read-only." : "The image is writable again.");
  }

  async function remove() {
    // Say what goes with it: who loses access, and every kept version, not just the current files.
    const users = img.shared_with.users.map(lastSegment);
    const groups = img.shared_with.groups.map(lastSegment);
    const sharedWith = [...users.map((u) => `user ${u}`), ...groups.map((g) => `group ${g}`)];
    let kept = "All its files and every kept version are deleted with it.";
    if (Array.isArray(versions)) {
      const distinct = new Map(versions.map((v) => [v.checksum.value, v.size]));
      const total = [...distinct.values()].reduce((a, b) => a + b, 0);
      kept = versions.length ? `${versions.length === 1 ? "Its only version is" : `All ${plural(versions.length, "version")} are`} deleted with it (${bytes(total)} stored).` : "It has no files.";
    }
    const ok = await confirmDialog({
      title: `Delete ${img.name}?`,
      body: [
        h("p", null, "This deletes ", h("strong", null, `${img.owner_user_name}/${img.name}`), ". It cannot be undone."),
        h(
          "ul",
          null,
          h("li", null, img.unauthenticated_access ? "It is public: anyone may download it now, without a certificate." : "It is private."),
          h("li", null, sharedWith.length ? `It is shared with ${sharedWith.join(", ")}, who will lose it.` : "It is not shared with anyone."),
          h("li", null, kept),
        ),
      ],
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
        row("Read-only", img.read_only ? "yes — no uploads, changes or deletion until it is made writable" : "no"),
        row("Public", img.unauthenticated_access ? "yes — anyone may download it without a certificate" : "no"),
        row("Expires", img.expires ? time(img.expires) : "never"),
        row("Version", String(img.version)),
        row("Size (latest upload)", img.size === null ? null : `${bytes(img.size)} (${img.size} bytes)`),
        row("Format (latest upload)", img.format ? diskFormat(img.format, img.virtual_size) : null),
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
        h("td", { "data-label": "Version", class: "num" }, f ? String(f.version) : "—"),
        h("td", { "data-label": "Size", class: "num", title: f ? `${f.size} bytes` : false }, f ? bytes(f.size) : "no file yet"),
        h("td", { "data-label": "Format", title: f?.virtual_size != null ? `a disk of ${f.virtual_size} bytes` : false }, f?.format ? diskFormat(f.format, f.virtual_size) : "—"),
        h("td", { "data-label": "SHA-256" }, f?.checksum?.value ? h("code", { class: "hash" }, f.checksum.value) : "—"),
        h("td", { "data-label": "Uploaded" }, f ? h("time", { datetime: f.uploaded, title: f.uploaded }, when(f.uploaded)) : "—"),
        h("td", { "data-label": "Actions", class: "cell-actions" }, h("div", { class: "cell-inner" }, f && h("a", { class: "btn btn-small btn-secondary", href: new URL(url).pathname, download: img.name, "aria-label": `Download the ${hv} file` }, "Download"), mayUpload && uploader(hv, !!f))),
      );
    });
    return h(
      "section",
      { class: "card", "aria-labelledby": "files-h" },
      h("h2", { id: "files-h" }, "Files"),
      h(
        "p",
        { class: "hint" },
        "One current file per hypervisor. Each upload becomes a new version and the current file; the older versions are kept (see History).",
        img.read_only && powers.modify ? " The image is read-only: no uploads until it is made writable." : "",
      ),
      h("div", { class: "table-wrap" }, h("table", { class: "files" }, h("thead", null, h("tr", null, ["Hypervisor", "Version", "Size", "Format", "SHA-256", "Uploaded", "Actions"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", null, rows))),
    );
  };

  // An upload never destroys the previous file: it becomes a new version, hence the wording.
  const uploader = (hv, hasFile) => {
    const input = h("input", { type: "file", id: uid("file"), class: "file-input" });
    const go = h("button", { type: "button", class: "btn btn-small", disabled: true, "aria-label": hasFile ? `Upload a new version of the ${hv} file` : `Upload the ${hv} file` }, hasFile ? "Upload new version" : "Upload");
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
      let resumed = "";
      const job = uploadFile(
        { owner: img.owner_user_name, image: img.name, hypervisor: hv },
        file,
        (loaded, total) => {
          const pct = total ? Math.floor((loaded / total) * 100) : 0;
          progress.value = pct;
          status.textContent = `${bytes(loaded)} of ${bytes(total)} (${pct}%)${resumed}`;
        },
        (offset) => (resumed = `, resumed at ${bytes(offset)}`),
      );
      cancel.onclick = () => job.abort();
      try {
        const v = await job.promise;
        progress.value = 100;
        status.textContent = "Done";
        img = v ?? img;
        if (--uploading === 0) window.removeEventListener("beforeunload", warn);
        await reload();
        const f = v?.files?.[hv];
        msg.ok(`Uploaded ${file.name} (${bytes(file.size)}) for ${hv}; sha256 ${f?.checksum?.value ?? ""}.${f ? ` It is version ${f.version}; the previous ones are in the history.` : ""}`);
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

  // ---- history ----
  const historySection = () => {
    const sectionEl = h(
      "section",
      { class: "card", "aria-labelledby": "history-h" },
      h("h2", { id: "history-h" }, "History"),
      h("p", { class: "hint" }, retention()),
      // The audit log files an image's events under its name at the time of each change.
      can.readAudit(session) &&
        h(
          "p",
          { class: "audit-link" },
          h("a", { href: ctx.href("/audit", new URLSearchParams({ target: `${img.owner_user_name}/${img.name}` })) }, "Audit history"),
          ": every change to this image, by whom, when and from where (a rename or an owner change, and the changes before it, are under the earlier name).",
        ),
    );
    if (versions instanceof Error) return append(sectionEl, errorBox(versions, "History"));
    if (versions.length === 0) return append(sectionEl, h("p", null, "No uploads yet."));
    const mayRollBack = powers.modify && !img.read_only;
    const currentSha = new Map(versions.filter((v) => v.current).map((v) => [v.hypervisor, v.checksum.value]));
    const rows = versions.map((v) => {
      // Rolling back to the bytes that are current already would change nothing but the number.
      const sameAsCurrent = !v.current && currentSha.get(v.hypervisor) === v.checksum.value;
      return h(
        "tr",
        { dataset: { hypervisor: v.hypervisor, version: String(v.version) }, class: v.current ? "current" : false },
        h("th", { scope: "row", "data-label": "Hypervisor" }, v.hypervisor),
        h("td", { "data-label": "Version", class: "num" }, String(v.version), v.current && [" ", badge("current", "badge-shared")]),
        h("td", { "data-label": "Size", class: "num", title: `${v.size} bytes` }, bytes(v.size)),
        h("td", { "data-label": "Format", title: v.virtual_size != null ? `a disk of ${v.virtual_size} bytes` : false }, v.format ? diskFormat(v.format, v.virtual_size) : "—"),
        h("td", { "data-label": "SHA-256" }, h("code", { class: "hash" }, v.checksum.value)),
        h("td", { "data-label": "Uploaded" }, h("time", { datetime: v.uploaded, title: v.uploaded }, when(v.uploaded))),
        h("td", { "data-label": "By" }, v.uploader ?? "—"),
        h("td", { "data-label": "Comment" }, versionNote(v)),
        h(
          "td",
          { "data-label": "Actions", class: "cell-actions" },
          h(
            "div",
            { class: "cell-inner" },
            // Pinned by digest: the link keeps giving these bytes whatever becomes current later.
            h("a", { class: "btn btn-small btn-secondary", href: new URL(v.digest_url).pathname, download: img.name, "aria-label": `Download ${v.hypervisor} version ${v.version}` }, "Download"),
            mayRollBack && !v.current && !sameAsCurrent && h("button", { type: "button", class: "btn btn-small", "aria-label": `Roll back ${v.hypervisor} to version ${v.version}`, onclick: (e) => rollBack(e.currentTarget, v) }, "Roll back to this"),
            mayRollBack && sameAsCurrent && h("span", { class: "hint" }, "same bytes as the current version"),
          ),
        ),
      );
    });
    return append(
      sectionEl,
      h("div", { class: "table-wrap" }, h("table", { class: "history stack" }, h("thead", null, h("tr", null, ["Hypervisor", "Version", "Size", "Format", "SHA-256", "Uploaded", "By", "Comment", "Actions"].map((c) => h("th", { scope: "col" }, c)))), h("tbody", null, rows))),
    );
  };

  const retention = () => {
    const k = img.keep_versions;
    const kept = k === null || k === undefined ? "the server's default" : k === 0 ? "all (none is ever deleted)" : String(k);
    return `Versions kept per hypervisor: ${kept}. Older versions are deleted when a newer one comes; the kept ones count against the owner's quota.`;
  };

  const versionNote = (v) => {
    const parts = [v.restored_from !== null && v.restored_from !== undefined && h("span", { class: "restored" }, `rollback to version ${v.restored_from}`), v.comment && h("span", { class: "pre" }, v.comment)].filter(Boolean);
    return parts.length ? parts.flatMap((p, i) => (i ? [" — ", p] : [p])) : "—";
  };

  async function rollBack(button, v) {
    const comment = h("input", { name: "comment", maxlength: "1024", autocomplete: "off" });
    const data = await formDialog({
      title: `Roll back ${v.hypervisor} to version ${v.version}?`,
      fields: [
        h(
          "p",
          null,
          `The bytes of version ${v.version} (${bytes(v.size)}, uploaded ${when(v.uploaded)}) become the current ${v.hypervisor} file again, as a new version; nothing is copied. `,
          "Nothing is deleted either: the later versions stay in the history (as after an upload, only versions beyond the number kept are dropped).",
        ),
        field("Comment (optional)", comment, "Saved with the new version, e.g. why you rolled back."),
      ],
      submit: "Roll back",
    });
    if (!data) return;
    const text = data.get("comment")?.toString().trim();
    await busy(button, async () => {
      try {
        const { data: r } = await api("POST", paths.rollback(img.owner_user_name, img.name), { json: { hypervisor: v.hypervisor, version: v.version, ...(text ? { comment: text } : {}) } });
        await reload();
        msg.ok(`Version ${v.version} of ${v.hypervisor} is current again (as version ${r.restored.version}).`);
      } catch (e) {
        msg.error(e, "Roll back");
      }
    });
  }

  // ---- sharing ----
  let allUsers = null;
  let allGroups = null;
  const sharingSection = () => {
    const users = img.shared_with.users.map(lastSegment);
    const groups = img.shared_with.groups.map(lastSegment);
    const sectionEl = h("section", { class: "card", "aria-labelledby": "sharing-h" }, h("h2", { id: "sharing-h" }, "Sharing"));
    // Whom an image is shared with is not told to anonymous viewers.
    if (!session.me) {
      sectionEl.append(h("p", null, "Sign in to see whom it is shared with."));
      return sectionEl;
    }
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
    // curl checks the server's certificate against the grid CA directory, as grid tools and the
    // repoman client do: $X509_CERT_DIR, else /etc/grid-security/certificates (a shell default).
    const curl = (rest) => `curl --cert ~/.globus/usercert.pem --key ~/.globus/userkey.pem --capath "\${X509_CERT_DIR:-/etc/grid-security/certificates}" ${rest}`;
    for (const hv of withFiles) {
      const url = img.file_url.replace("__hypervisor__", encodeURIComponent(hv));
      const suffix = withFiles.length > 1 ? ` (${hv})` : "";
      lines.push(commandLine(`Download with the repoman client${suffix}`, `repoman get-image ${hypervisors.length > 1 ? `-h ${hv} ` : ""}${ownerOpt}${img.name}`));
      lines.push(commandLine(`Download with curl and your certificate${suffix}`, curl(`-O ${url}`)));
      if (img.unauthenticated_access && img.http_file_url) {
        const pub = img.http_file_url.replace("__hypervisor__", encodeURIComponent(hv));
        lines.push(commandLine(`Public URL, no certificate needed${suffix}`, pub));
      }
    }
    if (powers.modify && !img.read_only) {
      const hv = hypervisors[0];
      const hvOpt = hypervisors.length > 1 ? `-h ${hv} ` : "";
      lines.push(commandLine(`Upload with the repoman client${hypervisors.length > 1 ? ` (${hv})` : ""}`, `repoman put-image ${hvOpt}${ownerOpt}${img.name} ${img.name}`));
      lines.push(commandLine(`Upload with curl${hypervisors.length > 1 ? ` (${hv})` : ""}`, curl(`-T ${img.name} ${img.file_url.replace("__hypervisor__", encodeURIComponent(hv))}`)));
    }
    return h(
      "section",
      { class: "card", "aria-labelledby": "cmd-h" },
      h("h2", { id: "cmd-h" }, "Commands"),
      lines.length ? lines : h("p", null, "No file has been uploaded yet."),
      lines.length > 0 &&
        h(
          "p",
          { class: "hint" },
          "With a grid proxy, use ",
          h("code", null, "--cert $X509_USER_PROXY"),
          " instead of the certificate and key. curl checks the server's certificate against the CAs in ",
          h("code", null, "$X509_CERT_DIR"),
          ", else ",
          h("code", null, "/etc/grid-security/certificates"),
          "; for a development server, first ",
          h("code", null, "export X509_CERT_DIR=repoman-data/dev-pki/certificates"),
          " (its development PKI's directory).",
        ),
    );
  };

  // ---- image lists ----
  // Sites download listed images anonymously: only a public, unexpired image with a file can be listed.
  const listsSection = (hypervisors) => {
    const listable = img.unauthenticated_access && !(img.expires && new Date(img.expires) <= new Date()) && hypervisors.some((hv) => img.files?.[hv]);
    if (!session.me || !listable) return null;
    return h(
      "section",
      { class: "card", "aria-labelledby": "lists-h" },
      h("h2", { id: "lists-h" }, "Image lists"),
      h("p", { class: "hint" }, "Grid sites take images from signed image lists they subscribe to. ", h("a", { href: "#/lists" }, "All image lists"), "."),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-secondary",
          onclick: (e) =>
            busy(e.currentTarget, async () => {
              try {
                const done = await addToList(ctx, img);
                if (done) msg.ok(done);
              } catch (err) {
                msg.error(err, "Add to a list");
              }
            }),
        },
        "Add to a list",
      ),
    );
  };

  draw();
  const f = takeImageFlash();
  if (f) msg.ok(f);
}

// Why an image cannot be shown. A 404 may name images of that name the visitor can see under other
// owners (so that "does not exist" is not the whole truth); a 410 means it expired, and is told
// only to those who could see it otherwise.
function unavailable(ctx, session, owner, name, e) {
  const back = h("p", null, h("a", { href: "#/" }, "Back to the images"));
  if (e instanceof ApiError && e.status === 410) {
    const at = /expired at (\S+?);/.exec(e.message)?.[1];
    return [
      pageTitle("Image expired"),
      h(
        "div",
        { class: "alert alert-warn", role: "alert" },
        h("strong", null, "Expired. "),
        "This image expired on ",
        at ? h("time", { datetime: at, title: at }, when(at)) : "an earlier date",
        ". Only its owner and admins see it now; its owner can extend it.",
      ),
      back,
    ];
  }
  if (!(e instanceof ApiError && e.status === 404)) return [pageTitle("Image"), errorBox(e)];
  const elsewhere = /you can see (.+?) \(name the owner/.exec(e.message)?.[1].split(", ") ?? [];
  return [
    pageTitle("Image not available"),
    h(
      "div",
      { class: "alert alert-error", role: "alert" },
      h("strong", null, "Not found or not allowed. "),
      `The image ${owner}/${name} does not exist, or you are not allowed to see it.`,
      session.me ? null : " You are not signed in: private and shared images need your certificate.",
      h("br"),
      `The server says: ${e.message}.`,
    ),
    elsewhere.length > 0 &&
      h(
        "p",
        null,
        "Images of that name you can see: ",
        elsewhere.map((full, i) => {
          const [o, n] = full.split("/");
          return [i ? ", " : "", h("a", { href: ctx.href("/images", o, n) }, full)];
        }),
      ),
    back,
  ];
}

// A message for the image page after a rename (which changes its URL).
let imageFlash = null;
const setFlashOnImage = (t) => (imageFlash = t);
const takeImageFlash = () => {
  const f = imageFlash;
  imageFlash = null;
  return f;
};
