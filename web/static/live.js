// Live page: overlay toggles rebuild the stream URL; status polled every second.
"use strict";
const img = document.getElementById("stream");

function streamUrl() {
  const q = new URLSearchParams();
  document.querySelectorAll("[data-overlay]").forEach((cb) => q.set(cb.dataset.overlay, cb.checked ? "1" : "0"));
  return "/api/stream.mjpeg?" + q.toString();
}
document.querySelectorAll("[data-overlay]").forEach((cb) => cb.addEventListener("change", () => { img.src = streamUrl(); }));
// A dropped connection (server restart, Wi-Fi) reconnects after a moment.
img.addEventListener("error", () => setTimeout(() => { img.src = streamUrl(); }, 2000));

document.getElementById("snap").addEventListener("click", async () => {
  try { const r = await api("POST", "/api/snapshot"); toast("Snapshot saved as " + r.id); }
  catch (err) { toast(err.message, false); }
});

async function refresh() {
  try {
    const s = await api("GET", "/api/status");
    const mode = document.getElementById("mode");
    mode.textContent = s.state.mode === "disarmed" ? "Disarmed" : "Armed (" + s.state.mode + ")";
    mode.className = "badge " + (s.state.armed ? "armed" : "ok");
    document.getElementById("alarm").hidden = !s.state.alarm;
    const list = document.getElementById("objects");
    list.replaceChildren(...(s.objects.length ? s.objects.map((o) =>
      el("li", {}, el("span", { text: o.label + " #" + o.track_id }), el("span", { class: "muted", text: Math.round(o.score * 100) + "%" })  /* as the box label: annotate.score_text */))
      : [el("li", { class: "muted", text: "Nothing" })]));
    document.getElementById("fps").textContent = s.pipeline.fps.toFixed(1);
    document.getElementById("viewers").textContent = s.stream.viewers;
  } catch (err) { /* transient: the next poll retries */ }
}
document.addEventListener("camapp:changed", refresh);
refresh();
setInterval(refresh, 1000);
