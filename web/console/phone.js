// The agent's own phone: registered or not, free / ringing / in a call / paused (with the reason), pause and
// unpause in the queues, and a warning when helpline's link to the PBX is down. Hidden on servers without it.
import { get, optional, post } from "./api.js";
import { clear, h, say } from "./dom.js";
import { failed, reason } from "./errors.js";
import { t } from "./i18n.js";

const REASONS = ["break", "lunch", "wrapup", "training", "other"];

export class Phone {
  constructor(root, linkWarning) {
    this.root = root;
    this.linkWarning = linkWarning;
    this.state = null;
  }

  async load() {
    this.state = await optional(get("/agents/me/phone")).catch(() => null);
    this.render();
  }

  /** SSE ``agent.phone`` (this agent's phone changed) and ``pbx.link`` ({up}). */
  event(type, data) {
    if (type === "pbx.link") { this.linkWarning.hidden = data.up !== false && data.state !== "down"; return; }
    if (this.state) { this.state = { ...this.state, ...data }; this.render(); }
  }

  render() {
    const s = this.state;
    const phone = Boolean(s && s.pbx && s.extension);  // no PBX or no extension: nothing to show or pause
    this.root.hidden = !phone;
    this.linkWarning.hidden = !(s && s.pbx && (s.pbx_link === false || s.pbx_link === "down"));
    if (!phone) return;
    const paused = (s.queues || []).some((q) => q.paused) || s.state === "paused";
    const why = s.reason || ((s.queues || []).find((q) => q.paused) || {}).reason;
    const select = h("select", { id: "pause-reason", "aria-label": t("phone.reason") },
      ...REASONS.map((r) => h("option", { value: r }, t(`pause.${r}`))));
    clear(this.root).append(
      h("span", { class: `phone-state ${s.registered === false ? "down" : "up"}` },
        s.registered === false ? t("phone.unregistered") : t(`phone.${s.state || "unknown"}`), paused && why ? ` (${t(`pause.${why}`) === `pause.${why}` ? why : t(`pause.${why}`)})` : ""),
      " ",
      paused
        ? h("button", { type: "button", onclick: () => this.send("/agents/me/unpause", {}, t("phone.unpaused")) }, t("phone.unpause"))
        : h("span", { class: "pause" }, select, " ",
            h("button", { type: "button", onclick: () => this.send("/agents/me/pause", { reason: select.value }, t("phone.paused.say")) }, t("phone.pause"))));
  }

  async send(path, body, done) {
    try {
      await post(path, body);
      say(done);
      await this.load();
    } catch (error) {
      failed(this.root, reason(error));
    }
  }
}
