// A desktop notification and a short sound for a ringing call while the tab is in the background, if the agent
// asked for it (remembered in this browser).
import { t } from "./i18n.js";

const STORE = "helpline.notify";

export const wanted = () => localStorage.getItem(STORE) === "1";

/** Wire the opt-in checkbox. */
export function optIn(checkbox) {
  checkbox.checked = wanted();
  checkbox.addEventListener("change", async () => {
    if (checkbox.checked && "Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission().catch(() => "denied");
    }
    localStorage.setItem(STORE, checkbox.checked ? "1" : "0");
  });
}

function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch { /* no audio here */ }
}

/** A call rings at this agent's phone: tell them if they are looking elsewhere. Returns whether it did. */
export function ringing(data) {
  if (!wanted() || !document.hidden) return false;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("notify.title"), { body: data.caller_name || data.caller_number || t("call.unknown"), tag: data.linkedid });
    note.onclick = () => { window.focus(); note.close(); };
  }
  return true;
}
