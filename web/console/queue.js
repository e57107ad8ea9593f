// The queue board: calls in progress per queue with how long they have waited (from the live events).
import { get } from "./api.js";
import { clear, duration, h } from "./dom.js";

export class QueueBoard {
  constructor(table, empty) {
    this.body = table.querySelector("tbody");
    this.empty = empty;
    this.calls = new Map(); // linkedid -> {queue, caller, state, since}
    setInterval(() => this.render(), 1000);
  }

  async load() {
    const page = await get("/calls?state=offered,ringing,answered&limit=100").catch(() => ({ items: [] }));
    for (const c of page.items) {
      this.calls.set(c.linkedid, { queue: c.queue, caller: c.caller_name || c.caller_number, state: c.state,
                                   since: Date.parse(c.started_at) });
    }
    this.render();
  }

  event(type, d) {
    if (type === "call.ended") this.calls.delete(d.linkedid);
    else {
      const known = this.calls.get(d.linkedid);
      const state = { "call.offered": "waiting", "call.ringing": "ringing", "call.answered": "talking",
                      "call.taken": "talking" }[type];
      this.calls.set(d.linkedid, { queue: d.queue || (known && known.queue), since: known ? known.since : Date.parse(d.at),
                                   caller: d.caller_name || d.caller_number || (known && known.caller) || "—", state });
    }
    this.render();
  }

  render() {
    clear(this.body);
    const rows = [...this.calls.values()].sort((a, b) => (a.queue || "").localeCompare(b.queue || "") || a.since - b.since);
    for (const c of rows) {
      const waited = (Date.now() - c.since) / 1000;
      this.body.append(h("tr", {}, h("td", {}, c.queue || "—"), h("td", {}, c.caller), h("td", {}, c.state),
                         h("td", {}, c.state === "talking" ? "—" : duration(waited))));
    }
    this.empty.hidden = rows.length > 0;
  }
}
