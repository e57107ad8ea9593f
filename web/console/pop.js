// The screen pop: a card per call ringing at this agent's phone, with who is calling and their tickets.
import { get, patch, post } from "./api.js";
import { clear, h, say } from "./dom.js";

const STATE_TEXT = { "call.ringing": "ringing", "call.answered": "answered", "call.ended": "ended" };

export class Pops {
  constructor(root, { openTicket, callBack }) {
    this.root = root;
    this.openTicket = openTicket;
    this.callBack = callBack;
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
    if (card) {
      this.setState(card, "call.ended", "answered by a colleague");
      setTimeout(() => this.dismiss(data.linkedid, false), 5000);
    }
  }

  ended(data) {
    const card = this.cards.get(data.linkedid);
    if (card) this.setState(card, "call.ended", data.outcome);
  }

  setState(card, type, outcome) {
    card.classList.remove("ringing", "answered", "ended");
    card.classList.add(STATE_TEXT[type]);
    const badge = card.querySelector(".badge.state");
    if (badge) badge.textContent = STATE_TEXT[type] + (outcome && outcome !== "answered" ? ` (${outcome})` : "");
  }

  async fill(card, data) {
    const [ticket, person] = await Promise.all([
      data.ticket_id ? get(`/tickets/${data.ticket_id}`).catch(() => null) : null,
      data.requester_id ? get(`/people/${data.requester_id}`).catch(() => null) : null,
    ]);
    const name = (person && person.name) || data.caller_name || data.caller_number || "Unknown caller";
    // only a number that can be dialled gets a call-back button: not "anonymous", not a withheld number
    const number = data.callback_number || (ticket && ticket.caller_number) || "";
    clear(card);
    card.append(
      h("header", {},
        h("h2", { id: `pop-${data.call_id}`, class: "caller" }, name),
        person && person.vip ? h("span", { class: "badge vip", title: "Very important person" }, "VIP") : null,
        h("span", { class: "badge state" }, "ringing")),
      h("dl", { class: "facts" },
        h("dt", {}, "Number"), h("dd", {}, number || "withheld", " ",
          number ? h("button", { type: "button", class: "call-back", onclick: () => this.callBack(number) },
                     `Call back ${number}`) : null),
        h("dt", {}, "Department"), h("dd", { class: "department" }, (person && person.department) || "—"),
        h("dt", {}, "Title"), h("dd", { class: "job-title" }, (person && person.title) || "—"),
        h("dt", {}, "Queue"), h("dd", {}, data.queue || "—"),
        h("dt", {}, "Ticket"), h("dd", {}, ticket
          ? h("button", { type: "button", class: "linkish open-ticket", onclick: () => this.openTicket(ticket.number) },
              `${ticket.number}: ${ticket.title}`, data.opened_ticket === false ? " (linked: they called about it before)" : "")
          : "—")),
    );
    if (!person) this.chooser(card, data, ticket);
    if (person) card.append(await this.recent(person.id, ticket && ticket.id));
    if (ticket) card.append(this.notes(ticket));
    card.append(h("button", { type: "button", class: "dismiss", onclick: () => this.dismiss(data.linkedid) }, "Dismiss"));
  }

  async recent(personId, currentId) {
    const list = h("ul", { class: "list recent" });
    const found = await get(`/tickets?requester_id=${personId}&sort=-updated&limit=6`).catch(() => ({ items: [] }));
    for (const t of found.items.filter((t) => t.id !== currentId).slice(0, 5)) {
      list.append(h("li", {}, h("button", { type: "button", class: "linkish", onclick: () => this.openTicket(t.number) },
        `${t.number} ${t.title}`), " ", h("span", { class: "muted" }, `${t.status}, ${t.priority}`)));
    }
    if (!list.children.length) list.append(h("li", { class: "muted" }, "No other tickets."));
    return h("section", { "aria-label": "Their open and recent tickets" }, h("h3", {}, "Open and recent tickets"), list);
  }

  chooser(card, data, ticket) {
    const ids = this.candidates.get(data.linkedid) || [];
    if (!ids.length || !ticket) return;
    const group = h("fieldset", { class: "choose" }, h("legend", {}, "Several people have this number: who is calling?"));
    card.append(group);
    for (const id of ids) {
      get(`/people/${id}`).then((p) => group.append(h("button", { type: "button", onclick: async () => {
        const current = await get(`/tickets/${ticket.number}`);
        await patch(`/tickets/${ticket.number}`, { requester_id: p.id }, { "If-Match": current.etag });
        say(`${ticket.number}: requester set to ${p.name}`);
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
      await post(`/tickets/${ticket.number}/comments`, { body: area.value, public: false });
      area.value = "";
      say(`Note added to ${ticket.number}`);
    } }, h("label", { for: id }, `Notes for ${ticket.number}`), area, h("button", { type: "submit" }, "Save note"));
    return form;
  }

  dismiss(linkedid, moveFocus = true) {
    const card = this.cards.get(linkedid);
    if (card) card.remove();
    this.cards.delete(linkedid);
    if (moveFocus) document.getElementById("work").focus();
  }
}
