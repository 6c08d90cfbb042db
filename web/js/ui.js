// Small shared pieces: messages, confirmation dialogs, copy buttons, page headings.
import { h, fill } from "./dom.js";

/** An error box for an ApiError (or any Error), with the server's own message. */
export function errorBox(err, prefix) {
  const status = err?.status;
  const title =
    status === 401 ? "Sign-in required" :
    status === 403 ? "Not allowed" :
    status === 404 ? "Not found" :
    status === 409 ? "Conflict" :
    status === 410 ? "Gone" :
    status === 413 ? "Too large" :
    status === 0 ? "Connection problem" : "Error";
  return h("div", { class: "alert alert-error", role: "alert" }, h("strong", null, prefix ? `${prefix}: ${title}. ` : `${title}. `), err?.message ?? String(err));
}

export function notice(text, kind = "info") {
  return h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A region that shows the outcome of actions (errors as alerts, successes as status). */
export function messageArea() {
  const el = h("div", { class: "messages", "aria-live": "polite" });
  return {
    el,
    error(err, prefix) {
      fill(el, errorBox(err, prefix));
      el.scrollIntoView?.({ block: "nearest" });
    },
    ok(text) {
      fill(el, notice(text, "ok"));
    },
    clear() {
      fill(el);
    },
  };
}

/** The page's h1, focused after navigation so keyboard and screen-reader users land on it. */
export function pageTitle(text, ...extra) {
  document.title = `${text} — Repoman`;
  return h("h1", { tabindex: "-1", class: "page-title" }, text, ...extra);
}

/**
 * A modal confirmation (<dialog>, keyboard accessible: Esc cancels, focus starts on Cancel).
 * Resolves true when confirmed.
 */
export function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const cancelBtn = h("button", { type: "button", class: "btn btn-secondary", value: "cancel" }, "Cancel");
    const okBtn = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : ""}`, value: "ok" }, confirm);
    const dlg = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dlg-title" },
      h("h2", { id: "dlg-title" }, title),
      h("div", { class: "dialog-body" }, body),
      h("div", { class: "actions" }, cancelBtn, okBtn),
    );
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    cancelBtn.addEventListener("click", () => done(false));
    okBtn.addEventListener("click", () => done(true));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancelBtn.focus();
  });
}

/** A dialog with a form; resolves to the FormData on submit, or null on cancel. */
export function formDialog({ title, fields, submit = "Save" }) {
  return new Promise((resolve) => {
    const cancelBtn = h("button", { type: "button", class: "btn btn-secondary" }, "Cancel");
    const form = h("form", { class: "dialog-form" }, fields, h("div", { class: "actions" }, cancelBtn, h("button", { type: "submit", class: "btn" }, submit)));
    const dlg = h("dialog", { class: "dialog", "aria-labelledby": "dlg-title" }, h("h2", { id: "dlg-title" }, title), form);
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      done(new FormData(form));
    });
    cancelBtn.addEventListener("click", () => done(null));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(null);
    });
    document.body.append(dlg);
    dlg.showModal();
    form.querySelector("input, select, textarea")?.focus();
  });
}

/** A read-only command line with a Copy button. */
export function commandLine(label, text) {
  const code = h("code", null, text);
  const status = h("span", { class: "copied", "aria-live": "polite" });
  const btn = h(
    "button",
    {
      type: "button",
      class: "btn btn-small btn-secondary",
      "aria-label": `Copy: ${label}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          status.textContent = "Copied";
        } catch {
          const range = document.createRange();
          range.selectNodeContents(code);
          getSelection()?.removeAllRanges();
          getSelection()?.addRange(range);
          status.textContent = "Selected — press Ctrl+C";
        }
        setTimeout(() => (status.textContent = ""), 2500);
      },
    },
    "Copy",
  );
  return h("div", { class: "command" }, h("div", { class: "command-label" }, label), h("div", { class: "command-row" }, h("pre", null, code), btn, status));
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

/** Disable a button while an action runs. */
export async function busy(button, fn) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = was;
    button.removeAttribute("aria-busy");
  }
}

// A message carried across one navigation (e.g. "Deleted …" shown on the list).
let flash = null;
export const setFlash = (text) => (flash = text);
export function takeFlash() {
  const f = flash;
  flash = null;
  return f ? notice(f, "ok") : null;
}
