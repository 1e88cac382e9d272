// Recordings: a timeline of the recorded segments with event markers; click to play from that moment.
// Segments are short MP4 files played one after another; seeking inside one uses HTTP Range requests.
"use strict";
(function () {
  const root = document.getElementById("recordings");
  if (!root) return;
  const track = document.getElementById("rec-track"), video = document.getElementById("rec-video");
  const spanSel = document.getElementById("rec-span"), cursor = document.getElementById("rec-cursor");
  let until = Date.now() / 1000, segments = [], playing = -1;
  const fmt = (t) => new Date(t * 1000).toLocaleString();
  const span = () => Number(spanSel.value);
  const pct = (t, since) => Math.max(0, Math.min(100, (t - since) / span() * 100));

  function block(cls, since, start, end, title) {
    const el = document.createElement("div");
    el.className = cls;
    el.style.left = pct(start, since) + "%";
    el.style.width = Math.max(0.15, pct(end, since) - pct(start, since)) + "%";
    el.title = title;
    track.appendChild(el);
    return el;
  }

  // Event markers coloured by label (the same label always gets the same colour), listed in the legend.
  const PALETTE = ["#e65100", "#6a1b9a", "#00838f", "#c2185b", "#2e7d32", "#5d4037", "#283593", "#9e9d24"];
  const colour = (label) => PALETTE[[...label].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % PALETTE.length];
  const PAGE = 20;
  const dot = (c, cls = "") => { const d = el("span", { class: "dot " + cls }); if (c) d.style.background = c; return d; };
  let events = [], page = 0;

  function ticks(since) {
    const box = document.getElementById("rec-ticks");
    const steps = [300, 900, 1800, 3600, 7200, 10800, 21600];
    const step = steps.find((s) => span() / s <= 8) || 21600;
    const first = Math.ceil(since / step) * step;
    const marks = [];
    for (let t = first; t <= since + span(); t += step) {
      if (pct(t, since) < 4 || pct(t, since) > 96) continue;  // a label at the very edge would stick out
      const m = el("span", { text: new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) });
      m.style.left = pct(t, since) + "%";
      marks.push(m);
    }
    box.replaceChildren(...marks);
  }

  function listPage() {
    const list = document.getElementById("rec-events");
    const newest = [...events].sort((a, b) => b.start_time - a.start_time);
    const pages = Math.max(1, Math.ceil(newest.length / PAGE));
    page = Math.min(page, pages - 1);
    list.replaceChildren(...newest.slice(page * PAGE, (page + 1) * PAGE).map((e) => {
      const a = el("a", { href: "/events/" + encodeURIComponent(e.id), text: e.label + " · " + fmt(e.start_time) + (e.has_clip ? " · clip" : e.clip === "pruned" ? " · clip pruned" : "") });
      const play = el("button", { type: "button", class: "secondary", text: "Play here" });
      play.addEventListener("click", () => playAt(e.start_time - 3));
      return el("li", {}, dot(colour(e.label)), a, play);
    }));
    if (!newest.length) list.replaceChildren(el("li", { class: "muted", text: "No events in this window." }));
    document.getElementById("rec-page").textContent = newest.length
      ? `${page * PAGE + 1}–${Math.min(newest.length, (page + 1) * PAGE)} of ${newest.length}` : "";
    document.getElementById("rec-prev").disabled = page === 0;
    document.getElementById("rec-next").disabled = page >= pages - 1;
  }

  function draw(data) {
    track.querySelectorAll(".recseg, .recevent").forEach((n) => n.remove());
    segments = data.segments;
    segments.forEach((s) => block("recseg" + (s.kept ? " kept" : ""), data.since, s.start, s.end,
      fmt(s.start) + " (" + (s.end - s.start).toFixed(1) + " s)"));
    events = data.events;
    const labels = {};
    events.forEach((e) => {
      const mark = block("recevent", data.since, e.start_time, e.end_time || data.until, e.label + " " + fmt(e.start_time));
      mark.dataset.event = e.id;
      mark.style.background = colour(e.label);
      labels[e.label] = (labels[e.label] || 0) + 1;
    });
    page = 0; listPage(); ticks(data.since);
    const day = { weekday: "short", day: "numeric", month: "short" }, hm = { hour: "2-digit", minute: "2-digit" };
    const a = new Date(data.since * 1000), b = new Date(data.until * 1000);
    document.getElementById("rec-range").textContent = a.toLocaleDateString([], day) + ", " + a.toLocaleTimeString([], hm) +
      " – " + (a.toDateString() === b.toDateString() ? "" : b.toLocaleDateString([], day) + ", ") + b.toLocaleTimeString([], hm);
    document.getElementById("rec-legend").replaceChildren(
      el("span", {}, dot(null, "seg"), " video recorded"), el("span", {}, dot(null, "gap"), " nothing recorded"),
      ...Object.entries(labels).map(([l, n]) => el("span", {}, dot(colour(l)), ` ${l} (${n})`)));
    const secs = segments.reduce((n, s) => n + s.end - s.start, 0);
    const gaps = segments.length ? segments.reduce((n, s, i) => n + (i && s.start - segments[i - 1].end > 2 ? 1 : 0), 0) : 0;
    document.getElementById("rec-summary").textContent = segments.length
      ? (secs < 120 ? secs.toFixed(0) + " s" : (secs / 60).toFixed(0) + " minutes") + " of video in this window" +
        (gaps ? ", with " + gaps + (gaps === 1 ? " gap" : " gaps") + " where nothing was recorded" : "") + "; " + events.length + " events."
      : "No video recorded in this window" + (events.length ? " (" + events.length + " events)" : "") + ".";
  }

  async function load() {
    const since = until - span();
    try {
      const camera = root.dataset.camera ? "&camera=" + encodeURIComponent(root.dataset.camera) : "";
      draw(await api("GET", "/api/recordings?since=" + since.toFixed(3) + "&until=" + until.toFixed(3) + camera));
    } catch (e) {
      document.getElementById("rec-summary").textContent = "Cannot load recordings: " + e.message;
    }
  }

  function playSegment(i, offset) {
    if (i < 0 || i >= segments.length) { playing = -1; return; }
    playing = i;
    const s = segments[i];
    video.hidden = false;
    video.src = "/api/recordings/" + encodeURIComponent(s.id);
    video.dataset.segment = s.id;
    video.addEventListener("loadedmetadata", () => { video.currentTime = Math.max(0, offset); video.play().catch(() => {}); },
      { once: true });
  }

  function playAt(t) {
    let i = segments.findIndex((s) => s.end > t);
    if (i < 0) return;
    playSegment(i, Math.max(0, t - segments[i].start));
  }

  video.addEventListener("ended", () => {  // continue with the next segment if it follows on
    const next = playing + 1;
    if (next < segments.length && segments[next].start - segments[playing].end < 2) playSegment(next, 0);
  });
  video.addEventListener("timeupdate", () => {
    if (playing < 0) return;
    const t = segments[playing].start + video.currentTime;
    document.getElementById("rec-playing").textContent = "Playing " + fmt(t);
    cursor.hidden = false;
    cursor.style.left = pct(t, until - span()) + "%";
  });
  track.addEventListener("click", (ev) => {
    const r = track.getBoundingClientRect();
    playAt(until - span() + (ev.clientX - r.left) / r.width * span());
  });
  document.getElementById("rec-earlier").addEventListener("click", () => { until -= span(); load(); });
  document.getElementById("rec-later").addEventListener("click", () => { until = Math.min(until + span(), Date.now() / 1000); load(); });
  document.getElementById("rec-now").addEventListener("click", () => { until = Date.now() / 1000; load(); });
  spanSel.addEventListener("change", load);
  const picker = document.getElementById("rec-camera");  // several cameras: one camera's timeline at a time
  if (picker) picker.addEventListener("change", () => {
    root.dataset.camera = picker.value;
    const q = new URLSearchParams(location.search); q.set("camera", picker.value);
    history.replaceState(null, "", "?" + q.toString());
    playing = -1; video.hidden = true; video.removeAttribute("src"); cursor.hidden = true;
    load();
  });
  function zoom(factor) {  // around the middle of what is shown; the span list gains the new length if it lacks it
    const mid = until - span() / 2, next = Math.max(300, Math.min(86400, span() * factor));
    if (![...spanSel.options].some((o) => Number(o.value) === next)) spanSel.append(el("option", { value: String(next), text: (next / 60).toFixed(0) + " minutes" }));
    spanSel.value = String(next);
    until = Math.min(mid + next / 2, Date.now() / 1000);
    load();
  }
  document.getElementById("rec-zoomin").addEventListener("click", () => zoom(0.5));
  document.getElementById("rec-zoomout").addEventListener("click", () => zoom(2));
  document.getElementById("rec-prev").addEventListener("click", () => { page -= 1; listPage(); });
  document.getElementById("rec-next").addEventListener("click", () => { page += 1; listPage(); });
  const start = new URLSearchParams(location.search).get("t");
  if (start) until = Number(start) + span() / 2;
  load().then(() => { if (start) playAt(Number(start)); });
})();
