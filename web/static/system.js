// System page: status cards every 2 s, sparkline charts of the last hour, log tail.
"use strict";
function fmtBytes(n) { if (n == null) return "–"; const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0; while (n >= 1024 && i < 4) { n /= 1024; i++; } return n.toFixed(1) + " " + u[i]; }
function fmtDur(s) { const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60); return (d ? d + "d " : "") + h + "h " + m + "m"; }
function set(id, text) { document.getElementById(id).textContent = text; }

function spark(canvas, values) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  const vs = values.filter((v) => v != null);
  if (vs.length < 2) { g.fillStyle = "#999"; g.font = "12px sans-serif"; g.fillText("collecting…", 4, h / 2); return; }
  const lo = Math.min(...vs), hi = Math.max(...vs), span = hi - lo || 1;
  g.strokeStyle = "#1565c0"; g.lineWidth = 1.5; g.beginPath();
  values.forEach((v, i) => { if (v == null) return; const x = i * w / (values.length - 1), y = h - 3 - (v - lo) / span * (h - 6); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
  g.fillStyle = "#66707a"; g.font = "10px sans-serif"; g.fillText(hi.toFixed(1), 2, 10); g.fillText(lo.toFixed(1), 2, h - 2);
}

async function refresh() {
  try {
    const s = await api("GET", "/api/status");
    const p = s.pipeline, h = s.health;
    set("s-fps", p.fps.toFixed(1));
    set("s-det", p.detector_ms.toFixed(0) + " ms");
    set("s-motion", p.motion_pct.toFixed(0) + " %");
    set("s-load", h.load[0].toFixed(2) + " / " + h.cpu_count + " cores");
    set("s-temp", h.cpu_temp_c == null ? "n/a" : h.cpu_temp_c.toFixed(0) + " °C");
    set("s-mem", h.memory.total ? Math.round(100 * (1 - h.memory.available / h.memory.total)) + " %" : "n/a");
    set("s-disk", fmtBytes(h.disk.free));
    const st = s.storage ? Object.fromEntries(Object.entries(s.storage).filter(([k]) => k !== "recording")) : null;
    set("s-retention", st ? Object.entries(st).map(([k, v]) => k + ": " + v).join(" · ") : "event storage off");
    const r = s.storage && s.storage.recording;
    set("s-rec", r ? r.state : "off");
    set("s-recinfo", r ? r.mode + " · " + r.encoder + (r.encode_ms != null ? " · " + r.encode_ms + " ms/frame" : "") +
      " · " + r.segments + " segments · " + r.frames_dropped + " dropped" : "");
    set("s-uptime", fmtDur(h.uptime_s));
    set("s-throttle", h.throttled == null ? "" : h.throttled ? "throttled (0x" + h.throttled.toString(16) + ")" : "not throttled");
    set("s-camera", p.camera.status);
    set("s-camerr", p.camera.error || (p.camera.reconnects ? p.camera.reconnects + " reconnects" : ""));
    set("s-mqtt", s.mqtt ? (s.mqtt.connected ? "connected" : "disconnected") : "off");
    set("s-outbox", s.mqtt && s.mqtt.outbox != null ? "outbox: " + s.mqtt.outbox : "");
    set("s-health", s.checks ? (s.checks.ok ? "ok" : "failing") : "n/a");
    set("s-reasons", s.checks && s.checks.reasons ? s.checks.reasons.join(" · ") : "");
  } catch (e) { /* next poll retries */ }
}

async function charts() {
  try {
    const { points } = await api("GET", "/api/history");
    document.querySelectorAll("canvas[data-chart]").forEach((c) => spark(c, points.map((p) => p[c.dataset.chart])));
  } catch (e) { /* next poll retries */ }
}

async function logs() {
  const pre = document.getElementById("log");
  if (!pre) return;  // viewers: the log is admin-only, and the page has no panel for it
  try { const { lines } = await api("GET", "/api/logs?lines=200");
    pre.textContent = lines.join("\n") || "(empty)"; pre.scrollTop = pre.scrollHeight; } catch (e) { /* retry */ }
}
async function security() {
  const lockouts = document.getElementById("lockouts");
  if (!lockouts) return;  // admins only
  try {
    const s = await api("GET", "/api/security");
    const when = (t) => new Date(t * 1000).toLocaleString();
    lockouts.replaceChildren(...(s.lockouts.length ? s.lockouts.map((l) => el("li", { class: "lockout", text:
      "Locked out: " + l.kind + " " + l.key + " until " + when(l.until) + " (" + l.failures + " failed passwords" +
      (l.last_from ? ", the last from " + l.last_from : "") + ")" })) : [el("li", { class: "muted", text: "No lockouts now." })]));
    document.getElementById("notices").replaceChildren(...s.notices.map((n) =>
      el("li", { class: "notice-" + n.kind, text: when(n.time) + " · " + n.message })));
  } catch (e) { /* next poll retries */ }
}
refresh(); charts(); logs(); security();
setInterval(refresh, 2000); setInterval(charts, 10000); setInterval(logs, 5000); setInterval(security, 10000);
