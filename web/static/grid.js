// Live grid of every camera: each tile its camera's MJPEG stream (or, past the first few, a still refreshed every
// second), its state in words from /api/status (working, starting, stalled and why). A hidden tab closes the
// streams, so nothing is encoded for a page nobody looks at; they reopen when it shows again.
"use strict";
(function () {
  const tiles = [...document.querySelectorAll(".camtile")];
  const imgs = tiles.map((t) => t.querySelector("img.camimg"));
  const source = (img) => img.dataset.src || (img.dataset.src = img.getAttribute("src"));
  imgs.forEach((img) => {
    source(img);
    img.addEventListener("error", () => setTimeout(() => { if (!document.hidden) img.src = source(img) + (img.dataset.kind === "still" ? "?t=" + Date.now() : ""); }, 2000));
  });
  document.addEventListener("visibilitychange", () => {
    imgs.forEach((img) => { if (img.dataset.kind === "stream") img.src = document.hidden ? "" : source(img); });
  });
  setInterval(() => {
    if (document.hidden) return;
    imgs.forEach((img) => { if (img.dataset.kind === "still") img.src = source(img) + "?t=" + Date.now(); });
  }, 1000);

  async function refresh() {
    try {
      const s = await api("GET", "/api/status");
      const mode = document.getElementById("mode");
      mode.textContent = s.state.mode === "disarmed" ? "Disarmed" : "Armed (" + s.state.mode + ")";
      mode.className = "badge " + (s.state.armed ? "armed" : "ok");
      document.getElementById("alarm").hidden = !s.state.alarm;
      const byName = Object.fromEntries(s.cameras.map((c) => [c.name, c]));
      tiles.forEach((tile) => {
        const c = byName[tile.dataset.camera];
        if (!c) return;
        const badge = tile.querySelector(".state");
        badge.textContent = c.status === "ok" ? "working" : c.status;
        badge.className = "badge state " + (c.status === "ok" ? "ok" : c.status === "stalled" ? "danger" : "");
        tile.querySelector(".fps").textContent = c.fps.toFixed(1) + " fps · " + c.source;
        const why = tile.querySelector(".why");
        why.hidden = c.status !== "stalled";
        why.textContent = "Not delivering pictures: " + c.reasons.join("; ");
        tile.dataset.status = c.status;
      });
    } catch (err) { /* transient: the next poll retries */ }
  }
  document.addEventListener("camapp:changed", refresh);
  refresh();
  setInterval(refresh, 2000);
})();
