// Keyboard: j/k move in the list, Enter opens, c comments, Ctrl+Enter sends, g then v goes to the views,
// / focuses search, ? lists the keys.
const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

export function keyboard({ list, pane, views, search, help }) {
  let g = false;
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      const form = event.target.form;
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (g) { g = false; if (key === "v") { event.preventDefault(); views.focus(); } return; }
    if (key === "j" || key === "k") { event.preventDefault(); list.move(key === "j" ? 1 : -1); }
    else if (key === "c" && pane.el) { event.preventDefault(); pane.focusComment(); }
    else if (key === "g") g = true;
    else if (key === "/") { event.preventDefault(); search.focus(); search.select(); }
    else if (key === "?") { event.preventDefault(); if (!help.open) help.showModal(); }
  });
}
