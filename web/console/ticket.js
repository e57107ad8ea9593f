// The ticket pane: its facts, the details form, replies and notes, the workflow and the history.
// A change that meets a newer version on the server (412: a call, an SLA event, a colleague) reloads the ticket,
// keeps what the agent typed, re-applies it where the server did not change the same field, and asks only there.
import { get, patch, post } from "./api.js";
import { priority, status as statusBadge } from "./badges.js";
import { clear, h, say } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t, when } from "./i18n.js";
import { changes, FIELDS, fieldsOf } from "./merge.js";
import { agentPicker, personPicker } from "./pickers.js";
import { cannedPicker } from "./canned.js";
import { linksForm } from "./links.js";
import { timeline } from "./timeline.js";

const LEVELS = ["high", "medium", "low"];
const TYPES = ["incident", "service_request"];
const ifMatch = (etag) => ({ "If-Match": etag });
const ATTEMPTS = 3;

export class TicketPane {
  constructor(root, { callBack, changed }) {
    this.root = root;
    this.callBack = callBack;
    this.changed = changed;   // the lists and counts may have moved
    this.ticket = null;
    this.base = null;         // the editable fields as last read from the server
  }

  get url() { return `/tickets/${encodeURIComponent(this.ticket.number)}`; }

  /** Open ``ref`` (IT-42 or an id); throws the API's error when there is no such ticket. */
  async open(ref) {
    const ticket = await get(`/tickets/${encodeURIComponent(ref)}`);
    this.base = null;
    await this.build(ticket);
    const history = this.update(ticket);  // the fields and the heading now, the history when it comes
    this.root.hidden = false;
    this.el.heading.focus();
    await history;
  }

  /** Read the ticket again; the agent's edits stay. Returns the fields that changed on both sides. */
  async reload() {
    const ticket = await get(this.url);
    return this.update(ticket);
  }

  /** A live event says this ticket changed: refresh what is shown, keep what is being typed. */
  async serverChanged(ticketId) {
    if (this.ticket && this.ticket.id === ticketId && !this.busy) await this.reload().catch(() => {});
  }

  read() {
    const e = this.el;
    return { title: e.title.value, description: e.description.value, type: e.type.value, impact: e.impact.value,
             urgency: e.urgency.value, requester_id: e.requester.get(), assignee: e.assignee.get() };
  }

  write(name, ticket) {
    const v = fieldsOf(ticket)[name];
    if (name === "requester_id") this.el.requester.set(v, ticket.requester && ticket.requester.name);
    else if (name === "assignee") this.el.assignee.set(v);
    else this.el[name].value = v;
  }

  async build(ticket) {
    const e = (this.el = {});
    const id = (name) => `t-${name}`;
    const field = (name, control) => h("div", { class: `field f-${name}` },
      h("label", { for: id(name) }, t(`fieldname.${name}`)), control, h("p", { class: "conflict", hidden: true }));
    e.heading = h("h2", { id: "ticket-title", tabindex: "-1" });
    e.facts = h("dl", { class: "facts" });
    e.title = h("input", { id: id("title"), maxlength: 200, required: true });
    e.description = h("textarea", { id: id("description"), rows: 3 });
    e.type = h("select", { id: id("type") }, ...TYPES.map((v) => h("option", { value: v }, t(`type.${v}`))));
    e.impact = h("select", { id: id("impact") }, ...LEVELS.map((v) => h("option", { value: v }, t(`level.${v}`))));
    e.urgency = h("select", { id: id("urgency") }, ...LEVELS.map((v) => h("option", { value: v }, t(`level.${v}`))));
    e.requester = personPicker(id("requester_id"), ticket.requester);
    e.assignee = await agentPicker(id("assignee"), ticket.assignee && ticket.assignee.login);
    e.details = h("form", { class: "details", novalidate: true, "aria-label": t("ticket.details"), onsubmit: (ev) => { ev.preventDefault(); this.save(); } },
      field("title", e.title), field("description", e.description),
      h("div", { class: "row" }, field("type", e.type), field("impact", e.impact), field("urgency", e.urgency)),
      field("requester_id", e.requester.el), field("assignee", e.assignee.el),
      h("button", { type: "submit", class: "primary" }, t("ticket.save")));

    e.comment = h("textarea", { id: "t-comment", rows: 4, required: true });
    e.public = h("input", { id: "t-public", type: "checkbox" });
    e.commentForm = h("form", { class: "comment", novalidate: true, "aria-label": t("ticket.comment"), onsubmit: (ev) => { ev.preventDefault(); this.comment(); } },
      h("label", { for: "t-comment" }, t("ticket.comment")), e.comment,
      h("label", { for: "t-public", class: "check" }, e.public, " ", t("ticket.public")),
      h("p", { class: "muted hint" }, t("ticket.comment.hint")),
      h("button", { type: "submit", class: "primary" }, t("ticket.send")));
    cannedPicker(e.commentForm, e.comment, () => this.ticket);

    e.status = h("select", { id: "t-status" });
    e.resolution = h("textarea", { id: "t-resolution", rows: 2, maxlength: 2000 });
    e.statusForm = h("form", { class: "status-form", "aria-label": t("ticket.workflow"), onsubmit: (ev) => { ev.preventDefault(); this.move(); } },
      h("div", { class: "field" }, h("label", { for: "t-status" }, t("ticket.moveto")), e.status),
      h("div", { class: "field" }, h("label", { for: "t-resolution" }, t("ticket.resolution")), e.resolution),
      h("button", { type: "submit" }, t("ticket.move")));

    e.history = h("div", { class: "history" });
    clear(this.root).append(e.heading, e.facts, e.statusForm, e.commentForm, e.details,
      linksForm(() => this.ticket, (ref) => this.open(ref)),
      h("h3", {}, t("ticket.history")), e.history);
  }

  /** Show ``ticket`` (the server's now) without losing the agent's edits; mark the fields changed on both sides. */
  async update(ticket) {
    const e = this.el;
    const before = this.base;
    const mine = before ? this.read() : null;
    const theirs = fieldsOf(ticket);
    const conflicts = [];
    this.ticket = ticket;
    for (const name of FIELDS) {
      const note = e.details.querySelector(`.f-${name} .conflict`);
      if (!before || mine[name] === before[name]) { this.write(name, ticket); note.hidden = true; continue; }
      if (theirs[name] === before[name] || theirs[name] === mine[name]) continue;  // only the agent changed it
      conflicts.push(name);
      this.conflict(note, name, ticket);
    }
    this.base = theirs;
    e.heading.textContent = `${ticket.number}: ${ticket.title}`;
    this.facts(ticket);
    const chosen = e.status.value;
    clear(e.status).append(h("option", { value: "" }, t("ticket.choose")),
      ...ticket.allowed_transitions.map((s) => h("option", { value: s }, t(`status.${s}`))));
    if (ticket.allowed_transitions.includes(chosen)) e.status.value = chosen;
    const activity = await get(`${this.url}/activity?limit=200`).catch(() => ({ items: [] }));
    clear(e.history).append(timeline(activity.items, ticket.calls || []));
    return conflicts;
  }

  conflict(note, name, ticket) {
    const shown = name === "requester_id" ? (ticket.requester ? ticket.requester.name : t("field.nobody"))
      : name === "assignee" ? (ticket.assignee ? ticket.assignee.display_name : t("field.nobody"))
      : ["type"].includes(name) ? t(`type.${ticket.type}`)
      : ["impact", "urgency"].includes(name) ? t(`level.${ticket[name]}`) : fieldsOf(ticket)[name];
    clear(note).append(t("ticket.conflict.field", { value: shown }), " ",
      h("button", { type: "button", onclick: () => { this.write(name, ticket); note.hidden = true; } }, t("ticket.conflict.theirs")),
      " ", h("button", { type: "button", onclick: () => { note.hidden = true; } }, t("ticket.conflict.mine")));
    note.hidden = false;
  }

  facts(ticket) {
    const caller = ticket.caller_number;
    clear(this.el.facts).append(
      h("dt", {}, t("fieldname.status")), h("dd", { class: "t-status" }, statusBadge(ticket.status)),
      h("dt", {}, t("fieldname.priority")), h("dd", { class: "t-priority" }, priority(ticket.priority)),
      h("dt", {}, t("fieldname.requester_id")), h("dd", { class: "t-requester" },
        ticket.requester ? `${ticket.requester.name}${ticket.requester.vip ? " (VIP)" : ""}` : "—"),
      h("dt", {}, t("fieldname.assignee")), h("dd", { class: "t-assignee" }, ticket.assignee ? ticket.assignee.display_name : t("field.nobody")),
      h("dt", {}, t("fieldname.caller")), h("dd", {}, caller || "—", " ", caller
        ? h("button", { type: "button", onclick: (e) => this.callBack(caller, e.currentTarget.closest("dd")) }, t("call.back", { number: caller })) : null),
      h("dt", {}, t("fieldname.created")), h("dd", {}, when(ticket.created_at)),
      ...this.related(ticket),
      ...(ticket.resolution ? [h("dt", {}, t("fieldname.resolution")), h("dd", { class: "t-resolution" }, ticket.resolution)] : []));
  }

  /** Merged into, parent and children (servers with ticket links): each opens with one click. */
  related(ticket) {
    const link = (t2) => h("button", { type: "button", class: "linkish", onclick: () => this.open(t2.number) }, `${t2.number} ${t2.title}`);
    const rows = [];
    if (ticket.merged_into) rows.push(h("dt", {}, t("links.mergedinto")), h("dd", { class: "t-merged" }, link(ticket.merged_into)));
    if (ticket.parent) rows.push(h("dt", {}, t("links.parent")), h("dd", { class: "t-parent" }, link(ticket.parent)));
    if (ticket.children && ticket.children.length) {
      rows.push(h("dt", {}, t("links.children")), h("dd", { class: "t-children" }, ...ticket.children.flatMap((c, i) => [i ? ", " : "", link(c)])));
    }
    return rows;
  }

  /** Run ``attempt`` with the current ETag; on 412 reload (edits kept) and try again unless something conflicts. */
  async withRetry(form, attempt, stillPossible = () => true) {
    this.busy = true;
    try {
      for (let i = 0; i < ATTEMPTS; i++) {
        try {
          await attempt();
          return true;
        } catch (error) {
          if (error.status !== 412) { failed(form, reason(error)); return false; }
          const conflicts = await this.reload();
          if (conflicts.length) { failed(form, t("ticket.conflict")); return false; }
          if (!stillPossible()) { failed(form, t("ticket.moved", { status: t(`status.${this.ticket.status}`) })); return false; }
          say(t("ticket.reapplied", { number: this.ticket.number }));
        }
      }
      failed(form, t("ticket.busy"));
      return false;
    } finally {
      this.busy = false;
    }
  }

  async save() {
    const form = this.el.details;
    const ok = await this.withRetry(form, async () => {
      const { assignee, ...fields } = changes(this.base, this.read());
      let etag = this.ticket.etag;
      if (Object.keys(fields).length) etag = (await patch(this.url, fields, ifMatch(etag))).etag;
      if (assignee !== undefined) await post(`${this.url}/assign`, { assignee }, ifMatch(etag));
    });
    if (!ok) return;
    for (const note of form.querySelectorAll(".conflict")) note.hidden = true;
    await this.reload();
    say(t("ticket.saved", { number: this.ticket.number }));
    this.changed();
  }

  async move() {
    const e = this.el;
    const to = e.status.value;
    if (!to) { failed(e.statusForm, t("ticket.choose.first")); return; }
    const ok = await this.withRetry(e.statusForm, async () => {
      const body = { to };
      if (e.resolution.value.trim()) body.resolution = e.resolution.value.trim();
      await post(`${this.url}/transitions`, body, ifMatch(this.ticket.etag));
    }, () => this.ticket.allowed_transitions.includes(to));
    if (!ok) return;
    e.resolution.value = "";
    e.status.value = "";
    await this.reload();
    say(t("ticket.moved.to", { number: this.ticket.number, status: t(`status.${to}`) }));
    this.changed();
  }

  async comment() {
    const e = this.el;
    if (!e.comment.value.trim()) { failed(e.commentForm, t("ticket.comment.empty")); return; }
    try {
      await post(`${this.url}/comments`, { body: e.comment.value, public: e.public.checked });
    } catch (error) {
      failed(e.commentForm, reason(error));
      return;
    }
    e.comment.value = "";
    say(t(e.public.checked ? "ticket.replied" : "ticket.noted", { number: this.ticket.number }));
    await this.reload();
    this.changed();
  }

  focusComment() { if (this.el) this.el.comment.focus(); }
}

