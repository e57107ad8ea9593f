// The call tray: a card per call ringing at this agent's phone, beside the work (never above a form being typed
// in). It shows who is calling and their tickets, offers "new ticket for this call" and "link to an open ticket",
// follows the call, and leaves by itself a wrap-up time after the call ends (not while the agent is using it).
import { get, patch, post } from "./api.js";
import { clear, h, say } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t } from "./i18n.js";

const STATES = { "call.ringing": "ringing", "call.answered": "answered", "call.ended": "ended" };
const OPEN = new Set(["new", "open", "pending"]);
/** Seconds a card stays after its call ended (localStorage helpline.wrapup overrides the default). */
export const wrapUp = () => Number(localStorage.getItem("helpline.wrapup") || 30);

export class Tray {
  constructor(root, empty, { openTicket, callBack, newTicket, ringing }) {
    Object.assign(this, { root, empty, openTicket, callBack, newTicket, onRinging: ringing });
    this.cards = new Map();       // linkedid -> card element
    this.candidates = new Map();  // linkedid -> person ids (from call.offered of an ambiguous caller)
  }

  offered(data) {
    if (data.candidates && data.candidates.length) this.candidates.set(data.linkedid, data.candidates);
  }

  async ringing(data) {
    let card = this.cards.get(data.linkedid);
    if (!card) {
      card = h("article", { class: "pop", "aria-labelledby": `pop-${data.call_id}`, dataset: { linkedid: data.linkedid } });
      this.cards.set(data.linkedid, card);
      this.root.prepend(card);
      this.empty.hidden = true;
      this.onRinging(data);
      await this.fill(card, data);
    }
    this.setState(card, "call.ringing");
  }

  answered(data) {
    const card = this.cards.get(data.linkedid);
    if (card) this.setState(card, "call.answered");
    else this.ringing(data).then(() => this.answered(data));
  }

  taken(data) {  // a colleague answered a call that also rang here
    const card = this.cards.get(data.linkedid);
    if (card) { this.setState(card, "call.ended", t("call.taken")); this.endLater(data.linkedid, 5); }
  }

  ended(data) {
    const card = this.cards.get(data.linkedid);
    if (!card) return;
    this.setState(card, "call.ended", data.outcome && data.outcome !== "answered" ? t(`outcome.${data.outcome}`) : "");
    this.endLater(data.linkedid, wrapUp());
  }

  /** Remove the card after ``seconds``, later while the agent is in it or has typed a note. */
  endLater(linkedid, seconds) {
    setTimeout(() => {
      const card = this.cards.get(linkedid);
      if (!card) return;
      const area = card.querySelector("textarea");
      if (card.contains(document.activeElement) || (area && area.value.trim())) this.endLater(linkedid, 5);
      else this.dismiss(linkedid, false);
    }, seconds * 1000);
  }

  setState(card, type, note = "") {
    card.classList.remove("ringing", "answered", "ended");
    card.classList.add(STATES[type]);
    const badge = card.querySelector(".badge.state");
    if (badge) badge.textContent = t(`callstate.${STATES[type]}`) + (note ? ` (${note})` : "");
  }

  async fill(card, data) {
    const [ticket, person] = await Promise.all([
      data.ticket_id ? get(`/tickets/${data.ticket_id}`).catch(() => null) : null,
      data.requester_id ? get(`/people/${data.requester_id}`).catch(() => null) : null,
    ]);
    const name = (person && person.name) || data.caller_name || data.caller_number || t("call.unknown");
    // only a number that can be dialled gets a call-back button: not "anonymous", not a withheld number
    const number = data.callback_number || (ticket && ticket.caller_number) || "";
    const state = card.querySelector(".badge.state");
    clear(card).append(
      h("header", {},
        h("h3", { id: `pop-${data.call_id}`, class: "caller" }, name),
        person && person.vip ? h("span", { class: "badge vip", title: t("call.vip.title") }, "VIP") : null,
        h("span", { class: "badge state" }, state ? state.textContent : t("callstate.ringing"))),
      h("dl", { class: "facts" },
        h("dt", {}, t("call.number")), h("dd", {}, number || t("call.withheld"), " ",
          number ? h("button", { type: "button", class: "call-back", onclick: (e) => this.callBack(number, e.currentTarget.closest("dd")) },
                     t("call.back", { number })) : null),
        h("dt", {}, t("call.department")), h("dd", { class: "department" }, (person && person.department) || "—"),
        h("dt", {}, t("call.jobtitle")), h("dd", { class: "job-title" }, (person && person.title) || "—"),
        h("dt", {}, t("call.queue")), h("dd", {}, data.queue || "—"),
        h("dt", {}, t("call.ticket")), h("dd", {}, ticket
          ? h("button", { type: "button", class: "linkish open-ticket", onclick: () => this.openTicket(ticket.number) },
              `${ticket.number}: ${ticket.title}`, data.opened_ticket === false ? ` ${t("call.linked.before")}` : "")
          : "—")),
      h("button", { type: "button", class: "new-for-call", onclick: () => this.newForCall(data, ticket, person, number, name) },
        t("call.newticket")),
    );
    if (!person) this.chooser(card, data, ticket);
    if (person) card.append(await this.recent(card, person.id, ticket));
    if (ticket) card.append(this.notes(ticket));
    card.append(h("button", { type: "button", class: "dismiss", onclick: () => this.dismiss(data.linkedid) }, t("action.dismiss")));
  }

  /** The call's own ticket when the call opened it; otherwise a new one, filled in from the call. */
  newForCall(data, ticket, person, number, name) {
    if (ticket && data.opened_ticket !== false) this.openTicket(ticket.number);
    else this.newTicket({ title: t("call.title", { name }), requester: person, caller_number: number || undefined, channel: "phone" });
  }

  async recent(card, personId, current) {
    const list = h("ul", { class: "list recent" });
    const found = await get(`/tickets?requester_id=${personId}&sort=-updated&limit=6`).catch(() => ({ items: [] }));
    for (const other of found.items.filter((x) => !current || x.id !== current.id).slice(0, 5)) {
      list.append(h("li", {},
        h("button", { type: "button", class: "linkish", onclick: () => this.openTicket(other.number) }, `${other.number} ${other.title}`),
        " ", h("span", { class: "muted" }, `${t(`status.${other.status}`)}, ${other.priority}`),
        current && OPEN.has(other.status) ? h("button", { type: "button", class: "link-call",
          onclick: () => this.link(card, current, other) }, t("call.link", { number: other.number })) : null));
    }
    if (!list.children.length) list.append(h("li", { class: "muted" }, t("call.noother")));
    return h("section", { "aria-label": t("call.recent") }, h("h4", {}, t("call.recent")), list);
  }

  /** Link the call to ``other``: its ticket is merged into the caller's open one (both histories stay). */
  async link(card, current, other) {
    try {
      await post(`/tickets/${current.number}/merge`, { into: other.number });
      say(t("call.linked", { number: other.number }));
      this.openTicket(other.number);
    } catch (error) {
      failed(card, error.status === 404 ? t("feature.unavailable") : reason(error));
      if (error.status === 404) for (const b of card.querySelectorAll(".link-call")) b.hidden = true;
    }
  }

  chooser(card, data, ticket) {
    const ids = this.candidates.get(data.linkedid) || [];
    if (!ids.length || !ticket) return;
    const group = h("fieldset", { class: "choose" }, h("legend", {}, t("call.who")));
    card.append(group);
    for (const id of ids) {
      get(`/people/${id}`).then((p) => group.append(h("button", { type: "button", onclick: async () => {
        try {
          const now = await get(`/tickets/${ticket.number}`);
          await patch(`/tickets/${ticket.number}`, { requester_id: p.id }, { "If-Match": now.etag });
        } catch (error) { failed(group, reason(error)); return; }
        say(t("call.requester.set", { number: ticket.number, name: p.name }));
        this.cards.delete(data.linkedid);
        card.remove();
        await this.ringing({ ...data, requester_id: p.id });
      } }, `${p.name}${p.department ? ", " + p.department : ""}`))).catch(() => {});
    }
  }

  notes(ticket) {
    const id = `notes-${ticket.id}-${Math.random().toString(36).slice(2, 7)}`;
    const area = h("textarea", { id, name: "notes", rows: 3 });
    const form = h("form", { class: "notes", onsubmit: async (event) => {
      event.preventDefault();
      if (!area.value.trim()) return;
      try {
        await post(`/tickets/${ticket.number}/comments`, { body: area.value, public: false });
      } catch (error) { failed(form, reason(error)); return; }
      area.value = "";
      say(t("call.note.added", { number: ticket.number }));
    } }, h("label", { for: id }, t("call.notes", { number: ticket.number })), area, h("button", { type: "submit" }, t("call.note.save")));
    return form;
  }

  dismiss(linkedid, moveFocus = true) {
    const card = this.cards.get(linkedid);
    if (card) card.remove();
    this.cards.delete(linkedid);
    this.empty.hidden = this.cards.size > 0;
    if (moveFocus) document.getElementById("work").focus();
  }
}
