// Building DOM without HTML strings: every piece of data becomes a text node or an attribute
// value, never markup, so nothing the server returns can inject into the page.

let ids = 0;
/** A fresh id for label/aria wiring. */
export const uid = (prefix = "id") => `${prefix}-${++ids}`;

/** Only in-page routes, same-origin paths and http(s) URLs become links. */
export function safeHref(url) {
  const s = String(url);
  return /^(#|\/(?!\/)|https?:\/\/)/i.test(s) ? s : "#/";
}

/**
 * h("a", { href: "#/", class: "x", onclick: fn }, "text", child, [more]) → HTMLElement.
 * Props: class, dataset, on<event> handlers, boolean attributes (true/false), value, checked,
 * anything else as an attribute. Children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = String(v);
    else if (k === "checked" || k === "selected") el[k] = true;
    else if (k === "href") el.setAttribute("href", safeHref(v));
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled form control: label above, optional hint, wired with for/id and aria-describedby. */
export function field(label, control, hint) {
  const id = control.id || (control.id = uid("f"));
  let hintEl = null;
  if (hint) {
    hintEl = h("small", { class: "hint", id: `${id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function select(name, options, current, props = {}) {
  return h(
    "select",
    { name, ...props },
    options.map(([value, label]) => h("option", { value, selected: String(value) === String(current ?? "") }, label)),
  );
}
