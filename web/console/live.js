// The live stream: EventSource reconnects by itself and sends Last-Event-ID, so nothing is missed in a blip.

const TYPES = ["call.offered", "call.queued", "call.ringing", "call.answered", "call.taken", "call.ended",
               "ticket.created", "ticket.updated", "sla.warning", "sla.breached", "queue.stats",
               "agent.phone", "pbx.link"];

export function connectLive(onEvent, onState) {
  const source = new EventSource("/api/v1/events", { withCredentials: true });
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  for (const type of TYPES) {
    source.addEventListener(type, (message) => {
      let data = {};
      try { data = JSON.parse(message.data); } catch { return; }
      onEvent(type, data, message.lastEventId);
    });
  }
  return source;
}
