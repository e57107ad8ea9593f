// The console: log in, then the views, the list, the ticket pane and the call tray, fed by the live stream.
import { api, get, optional, patch, post, setCsrf, whenUnauthorized } from "./api.js";
import { h, say, show } from "./dom.js";
import { failed, reason } from "./errors.js";
import { LANGUAGES, pick, setLanguage, setTimeZone, t } from "./i18n.js";
import { keyboard } from "./keys.js";
import { TicketList } from "./list.js";
import { loadBoard } from "./load.js";
import { connectLive } from "./live.js";
import { newTicketForm } from "./newticket.js";
import { optIn, ringing } from "./notify.js";
import { Phone } from "./phone.js";
import { QueueBoard, QueueStats } from "./queue.js";
import { TicketPane } from "./ticket.js";
import { Tray } from "./tray.js";
import { Views } from "./views.js";

const $ = (id) => document.getElementById(id);
const NUMBER = /^[A-Za-z]+-\d+$/;
let source = null;
let me = null;

/** Click to call: the agent's phone rings first. A failure shows next to the button (``place``). */
async function callBack(number, place) {
  try {
    await post("/calls/originate", { number });
    say(t("call.calling", { number }));
  } catch (error) {
    const text = t("call.failed", { number, reason: reason(error) });
    if (place) failed(place, text); else say(text);
  }
}

function showLogin(message = "") {
  if (source) source.close();
  source = null;
  me = null;
  for (const id of ["console", "logout", "whoami", "live-state", "keys", "notify-opt", "phone"]) show($(id), false);
  show($("login"), true);
  $("login-error").textContent = message;
  $("login-name").focus();
}

/** The agent's language and time zone: their own choice (GET /me where the server keeps it), else the browser's. */
async function preferences() {
  const prefs = await optional(get("/me")).catch(() => null);
  setLanguage(pick(prefs && prefs.language));
  if (prefs && prefs.time_zone) setTimeZone(prefs.time_zone);
}

function languageSwitcher() {
  const select = $("language");
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, lang: code }, name)));
  select.value = document.documentElement.lang;
  select.onchange = async () => {
    localStorage.setItem("helpline.language", select.value);
    if (me) await optional(patch("/me", { language: select.value })).catch(() => null);
    location.reload();  // every string of the page, drawn again in the new language
  };
}

async function start(session) {
  me = session.agent;
  setCsrf(session.csrf_token);
  await preferences();
  languageSwitcher();
  show($("login"), false);
  $("whoami").textContent = `${me.display_name}${me.extension ? " · " + t("whoami.ext", { ext: me.extension }) : ""} (${t(`role.${me.role}`)})`;
  for (const id of ["whoami", "logout", "live-state", "keys", "notify-opt", "console"]) show($(id), true);

  const open = async (ref) => {
    try {
      await pane.open(ref);
      $("no-ticket").hidden = true;
    } catch (error) {
      failed($("search-form"), error.status === 404 ? t("ticket.notfound", { ref }) : reason(error));
    }
  };
  let counting = null;
  const changed = () => {  // a burst of events counts once
    clearTimeout(counting);
    counting = setTimeout(() => { views.load(); list.refresh(); }, 1000);
  };
  const pane = new TicketPane($("ticket"), { callBack, changed });
  const list = new TicketList({ list: $("ticket-list"), more: $("more"), title: $("list-title"), filters: $("filters"),
                                place: document.querySelector(".list-pane") }, open);
  const views = new Views($("views"), (query, heading) => list.show(query, heading));
  const newTicket = (prefill = {}) => {
    $("no-ticket").hidden = true;
    newTicketForm($("ticket"), open, prefill);
  };
  const tray = new Tray($("tray"), $("tray-empty"), { openTicket: open, callBack, newTicket, ringing });
  const phone = new Phone($("phone"), $("pbx-down"));
  const board = new QueueBoard($("queue-board"), $("queue-empty"));
  const stats = new QueueStats($("queue-stats"), $("queue-stats-empty"));
  $("new-ticket").onclick = () => newTicket();
  $("keys").onclick = () => $("help").showModal();
  optIn($("notify"));
  keyboard({ list, pane, views, search: $("search-q"), help: $("help") });

  await views.load();
  views.choose(views.current);
  stats.load().then((visible) => board.load(visible));
  phone.load();
  loadBoard($("load"), $("load-table"));

  // the stream brings the calls of this agent's queues (supervisors: every call) for the board; a card pops only
  // for calls at this agent's phone
  const mine = (d) => d.agent_id === me.id || (Boolean(me.extension) && d.agent_extension === me.extension);
  source = connectLive((type, data) => {
    if (type === "queue.stats") stats.update(data);
    else if (type.startsWith("call.")) board.event(type, data);
    if (type === "call.offered") tray.offered(data);
    else if (type === "call.ringing" && mine(data)) tray.ringing(data);
    else if (type === "call.answered") (mine(data) ? tray.answered(data) : tray.taken(data));
    else if (type === "call.taken") tray.taken(data);
    else if (type === "call.ended") tray.ended(data);
    else if (type === "agent.phone" || type === "pbx.link") phone.event(type, data);
    else if (type.startsWith("ticket.") || type.startsWith("sla.")) {
      changed();
      pane.serverChanged(data.ticket_id);
    }
  }, (up) => {
    const state = $("live-state");
    state.textContent = up ? t("live.on") : t("live.off");
    state.className = `live ${up ? "on" : "off"}`;
  });

  $("search-form").onsubmit = async (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    if (!q) return;
    if (NUMBER.test(q)) {  // a ticket number goes straight to the ticket
      await open(q.toUpperCase());
      return;
    }
    list.show(`q=${encodeURIComponent(q)}`, t("search.results", { q }));
  };
}

async function boot() {
  setLanguage(pick());
  languageSwitcher();
  whenUnauthorized(() => showLogin(t("login.ended")));
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try {
      const session = await api("POST", "/session", { login: $("login-name").value.trim(), password: $("login-password").value });
      $("login-password").value = "";
      await start(session);
    } catch (error) {
      // too many attempts, or an account without a password yet: the server's words say what to do
      const told = error.status === 429 || (error.problem && error.problem.type === "urn:helpline:problem:no-password");
      $("login-error").textContent = told ? error.message : t("login.wrong");
    }
  });
  $("logout").addEventListener("click", async () => {
    await api("DELETE", "/session").catch(() => {});
    showLogin(t("login.out"));
  });
  try {
    await start(await get("/session"));
  } catch {
    showLogin();
  }
}

boot();
