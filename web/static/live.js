// Live page (the appliance's camera, or one camera of several: data-camera): overlay toggles rebuild the stream URL;
// status polled every second.
"use strict";
const img = document.getElementById("stream");
const camera = img.dataset.camera;
const cameraQuery = camera ? "?camera=" + encodeURIComponent(camera) : "";

function streamUrl() {
  const q = new URLSearchParams();
  document.querySelectorAll("[data-overlay]").forEach((cb) => q.set(cb.dataset.overlay, cb.checked ? "1" : "0"));
  return (camera ? "/api/cameras/" + encodeURIComponent(camera) : "/api") + "/stream.mjpeg?" + q.toString();
}
document.querySelectorAll("[data-overlay]").forEach((cb) => cb.addEventListener("change", () => { img.src = streamUrl(); }));
// A dropped connection (server restart, Wi-Fi) reconnects after a moment.
img.addEventListener("error", () => setTimeout(() => { img.src = streamUrl(); }, 2000));

document.getElementById("snap").addEventListener("click", async () => {
  try { const r = await api("POST", "/api/snapshot" + cameraQuery); toast("Snapshot saved as " + r.id); }
  catch (err) { toast(err.message, false); }
});

// This camera's state in words (one camera of several): working, starting, or stalled and why.
function cameraLine(c) {
  const badge = document.getElementById("camstate");
  if (!badge || !c) return;
  badge.textContent = c.status === "ok" ? "working" : c.status;
  badge.className = "badge " + (c.status === "ok" ? "ok" : c.status === "stalled" ? "danger" : "");
  document.getElementById("camsource").textContent = c.source;
  const why = document.getElementById("camwhy");
  why.hidden = c.status !== "stalled";
  why.textContent = "This camera is not delivering pictures: " + c.reasons.join("; ");
}

async function refresh() {
  try {
    const s = await api("GET", "/api/status" + cameraQuery);
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
    if (camera) cameraLine((s.cameras || []).find((c) => c.name === camera));
  } catch (err) { /* transient: the next poll retries */ }
}
document.addEventListener("camapp:changed", refresh);
refresh();
setInterval(refresh, 1000);
