// System page: a state line per part (what to do when it is not ok), status cards every 2 s, charts of the last
// hour with labelled axes, the log tail with event ids turned into links. Times are shown in this browser's locale.
"use strict";
function fmtBytes(n) {
  if (n == null) return "–";
  const u = ["bytes", "KB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1000 && i < 4) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : String(Math.round(n))) + " " + u[i];
}
function fmtDur(s) { const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60); return (d ? d + " d " : "") + h + " h " + m + " min"; }
function ago(t) {
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 90) return "just now";
  if (s < 5400) return Math.round(s / 60) + " minutes ago";
  if (s < 129600) return Math.round(s / 3600) + " hours ago";
  return Math.round(s / 86400) + " days ago";
}
const when = (t) => new Date(t * 1000).toLocaleString();
function set(id, text) { document.getElementById(id).textContent = text; }
function part(name, ok, text) {
  const li = document.querySelector(`#parts [data-part="${name}"]`);
  li.className = ok === true ? "ok" : ok === false ? "bad" : "off";
  li.querySelector(".state").textContent = text;
}

function storageLine(st) {
  if (!st) return [null, "Off: events are not kept (set storage.path in Settings to keep snapshots and clips)."];
  const used = fmtBytes(st.media_bytes) + " of " + fmtBytes(st.quota_bytes) + " used";
  const oldest = st.oldest_event_time ? "; oldest kept event: " + ago(st.oldest_event_time) : "; no events kept yet";
  if (st.degraded) return [false, "The disk cannot be written: new events keep only their details. Check the SD card or disk (System log), free space, then restart."];
  if (st.refused_writes) return [false, used + oldest + ". " + st.refused_writes + " pictures or clips could not be saved for lack of space: free disk space or lower the quota."];
  const full = st.quota_bytes && st.media_bytes >= 0.95 * st.quota_bytes;
  return [true, used + oldest + (full ? ". Quota full: the oldest media are being deleted to make room." : ".")];
}

// Several cameras: a line per camera, named, saying which one is stalled and why (the health report's reasons).
function cameraParts(cams) {
  const first = document.querySelector('#parts [data-part="camera"]');
  let prev = first;
  first.hidden = true;
  cams.forEach((c) => {
    let li = document.querySelector(`#parts [data-camera="${CSS.escape(c.name)}"]`);
    if (!li) {
      li = el("li", { "data-camera": c.name }, el("b", {}, el("a", { href: c.page, text: "Camera " + c.name })), " ", el("span", { class: "state" }));
      prev.after(li);
    }
    prev = li;
    li.className = c.status === "ok" ? "ok" : c.status === "stalled" ? "bad" : "off";
    li.querySelector(".state").textContent = c.status === "ok" ? "Working: " + c.fps.toFixed(1) + " frames a second (" + c.source + ")."
      : c.status === "starting" ? "Starting: waiting for the first picture."
      : "Stalled: " + c.reasons.join("; ") + ". Check its cable, network or file and its settings; the other cameras keep working.";
  });
}

function parts(s) {
  const p = s.pipeline, cam = p.camera;
  if (s.cameras && s.cameras.length > 1) cameraParts(s.cameras);
  else if (cam.status === "open") part("camera", true, "Working: " + p.fps.toFixed(1) + " frames a second.");
  else if (cam.status === "starting") part("camera", null, "Starting: waiting for the first picture.");
  else part("camera", false, (cam.error ? "Not delivering pictures (" + cam.error + "). " : "Not delivering pictures. ") +
    "Check its cable or network and the camera settings; camapp keeps reconnecting" + (cam.reconnects ? " (" + cam.reconnects + " tries so far)." : "."));
  if (!s.state.detection) part("detector", null, "Switched off: nothing is detected. Turn detection on from Live or MQTT.");
  else if (p.detector_calls === 0) part("detector", null, "Waiting for motion (it runs only where something moves).");
  else part("detector", true, "Working: " + p.detector_ms.toFixed(0) + " ms per look, " + p.motion_pct.toFixed(0) + " % of frames have motion.");
  const r = s.storage && s.storage.recording;
  if (!r) part("recording", null, "Off: clips are not cut (storage.recording in Settings).");
  else if (r.state === "recording") part("recording", true, (r.mode === "continuous" ? "Recording all the time" : "Recording around events") + " with " + r.encoder + (r.frames_dropped ? "; " + r.frames_dropped + " frames could not be encoded in time (lower the resolution)." : "."));
  else part("recording", false, "Not recording (" + r.state + "). See the log below; check the disk and the encoder settings.");
  const [ok, text] = storageLine(s.storage);
  part("storage", ok, text);
  if (!s.mqtt) part("mqtt", null, "Off: nothing is published (set mqtt.host in Settings to use a broker).");
  else if (s.mqtt.connected) part("mqtt", true, "Connected" + (s.mqtt.broker ? " to " + s.mqtt.broker : "") + (s.mqtt.outbox ? "; " + s.mqtt.outbox + " messages waiting to be sent." : "; nothing waiting."));
  else part("mqtt", false, "Not connected" + (s.mqtt.last_error ? " (" + s.mqtt.last_error + ")" : "") + ". Check the broker address, user and password in Settings; messages wait" + (s.mqtt.outbox ? " (" + s.mqtt.outbox + " now)" : "") + " and are sent when it is back.");
}

function spark(canvas, points, key, unit) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  const pts = points.filter((p) => p[key] != null);
  g.font = "10px sans-serif"; g.fillStyle = "#66707a";
  if (pts.length < 2) { g.fillText("collecting…", 4, h / 2); return; }
  const vs = pts.map((p) => p[key]);
  const lo = Math.min(0, ...vs), hi = Math.max(...vs), span = hi - lo || 1;
  const left = 44, bottom = 14, top = 4, t0 = pts[0].t, t1 = pts[pts.length - 1].t, dt = t1 - t0 || 1;
  // Axes in their own margins, so the labels never sit on the line.
  g.strokeStyle = "#d9dde2"; g.beginPath(); g.moveTo(left, top); g.lineTo(left, h - bottom); g.lineTo(w, h - bottom); g.stroke();
  g.textAlign = "right"; g.fillText(hi.toFixed(hi < 10 ? 1 : 0) + (unit || ""), left - 3, top + 8); g.fillText(lo.toFixed(0), left - 3, h - bottom);
  g.textAlign = "left"; g.fillText(new Date(t0 * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), left, h - 2);
  g.textAlign = "right"; g.fillText("now", w - 1, h - 2);
  g.strokeStyle = "#1565c0"; g.lineWidth = 1.5; g.beginPath();
  pts.forEach((p, i) => { const x = left + 2 + (p.t - t0) / dt * (w - left - 3), y = h - bottom - 2 - (p[key] - lo) / span * (h - bottom - top - 4); i ? g.lineTo(x, y) : g.moveTo(x, y); });
  g.stroke();
}
const UNITS = { fps: "", detector_ms: " ms", motion_pct: " %", load: "", temp_c: " °C", mem_pct: " %" };

async function refresh() {
  try {
    const s = await api("GET", "/api/status");
    const p = s.pipeline, h = s.health;
    parts(s);
    set("s-fps", p.fps.toFixed(1));
    set("s-det", p.detector_ms.toFixed(0) + " ms");
    set("s-motion", p.motion_pct.toFixed(0) + " %");
    set("s-load", h.load[0].toFixed(2) + " on " + h.cpu_count + " cores");
    set("s-temp", h.cpu_temp_c == null ? "not measured" : h.cpu_temp_c.toFixed(0) + " °C");
    set("s-mem", h.memory.total ? Math.round(100 * (1 - h.memory.available / h.memory.total)) + " %" : "not measured");
    set("s-disk", fmtBytes(h.disk.free) + " free");
    set("s-retention", storageLine(s.storage)[1]);
    const r = s.storage && s.storage.recording;
    set("s-rec", r ? r.state : "off");
    set("s-recinfo", r ? (r.mode === "continuous" ? "all the time" : "around events") + " · " + r.encoder +
      (r.encode_ms != null ? " · " + r.encode_ms + " ms a frame" : "") + " · " + r.segments + " pieces kept" : "");
    set("s-uptime", fmtDur(h.uptime_s));
    set("s-throttle", h.throttled == null ? "" : h.throttled ? "slowed down by heat or power (code 0x" + h.throttled.toString(16) + ")" : "running at full speed");
    const cams = s.cameras || [], down = cams.filter((c) => c.status === "stalled");
    if (cams.length > 1) {  // the cards and charts above are the first camera's (a line per camera: the parts list)
      document.querySelector("#s-fps").previousElementSibling.textContent = "Frames / s (" + s.camera + ")";
      set("s-camera", (cams.length - down.length) + " of " + cams.length + " working");
      set("s-camerr", down.length ? "stalled: " + down.map((c) => c.name).join(", ") : "");
    } else {
      set("s-camera", p.camera.status);
      set("s-camerr", p.camera.error || (p.camera.reconnects ? p.camera.reconnects + " reconnects" : ""));
    }
    set("s-mqtt", s.mqtt ? (s.mqtt.connected ? "connected" : "disconnected") : "off");
    set("s-outbox", s.mqtt && s.mqtt.outbox != null ? s.mqtt.outbox + " messages waiting" : "");
    set("s-health", s.checks ? (s.checks.ok ? "ok" : "failing") : "not checked");
    set("s-reasons", s.checks && s.checks.reasons ? s.checks.reasons.join(" · ") : "");
  } catch (e) { /* next poll retries */ }
}

async function charts() {
  try {
    const { points } = await api("GET", "/api/history");
    document.querySelectorAll("canvas[data-chart]").forEach((c) => spark(c, points, c.dataset.chart, UNITS[c.dataset.chart]));
  } catch (e) { /* next poll retries */ }
}

// Event ids are their start time in Unix seconds and 6 hex digits: shown as a link with the local time instead.
const EVENT_ID = /\b(1\d{9}\.\d{6})-([0-9a-f]{6})\b/g;
function logLine(line) {
  const out = el("div");
  let last = 0;
  for (const m of line.matchAll(EVENT_ID)) {
    out.append(line.slice(last, m.index));
    out.append(el("a", { href: "/events/" + m[0], text: "event of " + when(Number(m[1])) }));
    last = m.index + m[0].length;
  }
  out.append(line.slice(last));
  return out;
}
async function logs() {
  const pre = document.getElementById("log");
  if (!pre) return;  // viewers: the log is admin-only, and the page has no panel for it
  try { const { lines } = await api("GET", "/api/logs?lines=200");
    pre.replaceChildren(...(lines.length ? lines.map(logLine) : [el("div", { text: "(empty)" })])); pre.scrollTop = pre.scrollHeight; } catch (e) { /* retry */ }
}
async function security() {
  const lockouts = document.getElementById("lockouts");
  if (!lockouts) return;  // admins only
  try {
    const s = await api("GET", "/api/security");
    lockouts.replaceChildren(...(s.lockouts.length ? s.lockouts.map((l) => el("li", { class: "lockout", text:
      "Locked out: " + l.kind + " " + l.key + " until " + when(l.until) + " (" + l.failures + " failed passwords" +
      (l.last_from ? ", the last from " + l.last_from : "") + ")" })) : [el("li", { class: "muted", text: "No lockouts now." })]));
    document.getElementById("notices").replaceChildren(...s.notices.map((n) =>
      el("li", { class: "notice-" + n.kind, text: when(n.time) + " · " + n.message })));
  } catch (e) { /* next poll retries */ }
}
refresh(); charts(); logs(); security();
setInterval(refresh, 2000); setInterval(charts, 10000); setInterval(logs, 5000); setInterval(security, 10000);
