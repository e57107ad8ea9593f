// The console: log in, then follow the live stream (screen pops, queue board) and work tickets.
import { api, get, post, setCsrf, whenUnauthorized } from "./api.js";
import { say, show } from "./dom.js";
import { connectLive } from "./live.js";
import { Pops } from "./pop.js";
import { QueueBoard, QueueStats } from "./queue.js";
import { loadAtRisk, loadMine, search, TicketView } from "./tickets.js";

const $ = (id) => document.getElementById(id);
let source = null;
let me = null;

async function callBack(number) {
  try {
    await post("/calls/originate", { number });
    say(`Calling ${number}: your phone rings first`);
  } catch (error) {
    say(`Cannot call ${number}: ${error.message}`);
  }
}

function showLogin(message = "") {
  if (source) source.close();
  source = null;
  me = null;
  show($("console"), false); show($("logout"), false); show($("whoami"), false); show($("live-state"), false);
  show($("login"), true);
  $("login-error").textContent = message;
  $("login-name").focus();
}

async function start(session) {
  me = session.agent;
  setCsrf(session.csrf_token);
  show($("login"), false);
  $("whoami").textContent = `${me.display_name}${me.extension ? " · ext. " + me.extension : ""} (${me.role})`;
  show($("whoami"), true); show($("logout"), true); show($("live-state"), true); show($("console"), true);

  const open = (ref) => tickets.open(ref);
  const refresh = () => { loadMine($("mine"), open); loadAtRisk($("at-risk"), open); };
  const tickets = new TicketView($("ticket"), { callBack, refresh });
  const pops = new Pops($("pops"), { openTicket: open, callBack });
  const board = new QueueBoard($("queue-board"), $("queue-empty"));
  const stats = new QueueStats($("queue-stats"), $("queue-stats-empty"));
  stats.load().then((visible) => board.load(visible));
  refresh();
  setInterval(() => loadAtRisk($("at-risk"), open), 30000);

  // the stream brings the calls of this agent's queues (supervisors: every call) for the board; a card pops only
  // for calls at this agent's phone
  const mine = (d) => d.agent_id === me.id || (Boolean(me.extension) && d.agent_extension === me.extension);
  source = connectLive((type, data) => {
    if (type === "queue.stats") stats.update(data);
    else if (type.startsWith("call.")) board.event(type, data);
    if (type === "call.offered") pops.offered(data);
    else if (type === "call.ringing" && mine(data)) pops.ringing(data);
    else if (type === "call.answered") (mine(data) ? pops.answered(data) : pops.taken(data));
    else if (type === "call.taken") pops.taken(data);
    else if (type === "call.ended") pops.ended(data);
    else if (type.startsWith("ticket.") || type.startsWith("sla.")) {
      refresh();
      if (tickets.ticket && data.ticket_id === tickets.ticket.id && type === "ticket.updated") say(`${data.number} changed`);
    }
  }, (up) => {
    const state = $("live-state");
    state.textContent = up ? "live" : "reconnecting…";
    state.className = `live ${up ? "on" : "off"}`;
  });

  $("search-form").onsubmit = (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    if (q) search(q, $("search-results"), open);
  };
}

async function boot() {
  whenUnauthorized(() => showLogin("Your session has ended: please log in again."));
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try {
      const session = await api("POST", "/session", { login: $("login-name").value.trim(), password: $("login-password").value });
      $("login-password").value = "";
      await start(session);
    } catch (error) {
      // too many attempts, or an account without a password yet: the server's words say what to do
      const told = error.status === 429 || error.problem.type === "urn:helpline:problem:no-password";
      $("login-error").textContent = told ? error.message : "Wrong login or password.";
    }
  });
  $("logout").addEventListener("click", async () => {
    await api("DELETE", "/session").catch(() => {});
    showLogin("You are logged out.");
  });
  try {
    await start(await get("/session"));
  } catch {
    showLogin();
  }
}

boot();
