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

  function draw(data) {
    track.querySelectorAll(".recseg, .recevent").forEach((el) => el.remove());
    segments = data.segments;
    segments.forEach((s) => block("recseg" + (s.kept ? " kept" : ""), data.since, s.start, s.end,
      fmt(s.start) + " (" + (s.end - s.start).toFixed(1) + " s)"));
    const list = document.getElementById("rec-events");
    list.textContent = "";
    data.events.forEach((e) => {
      const mark = block("recevent", data.since, e.start_time, e.end_time || data.until, e.label + " " + fmt(e.start_time));
      mark.dataset.event = e.id;
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = "/events/" + encodeURIComponent(e.id);
      a.textContent = e.label + " · " + fmt(e.start_time) + (e.has_clip ? " · clip" : "");
      const play = document.createElement("button");
      play.type = "button"; play.className = "secondary"; play.textContent = "Play here";
      play.addEventListener("click", () => playAt(e.start_time - 3));
      li.append(a, play);
      list.appendChild(li);
    });
    document.getElementById("rec-from").textContent = fmt(data.since);
    document.getElementById("rec-to").textContent = fmt(data.until);
    const secs = segments.reduce((n, s) => n + s.end - s.start, 0);
    document.getElementById("rec-summary").textContent = segments.length
      ? segments.length + " segments, " + (secs / 60).toFixed(1) + " min of video, " + data.events.length + " events"
      : "No video recorded in this window" + (data.events.length ? " (" + data.events.length + " events)" : "") + ".";
  }

  async function load() {
    const since = until - span();
    try {
      draw(await api("GET", "/api/recordings?since=" + since.toFixed(3) + "&until=" + until.toFixed(3)));
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
  const start = new URLSearchParams(location.search).get("t");
  if (start) until = Number(start) + span() / 2;
  load().then(() => { if (start) playAt(Number(start)); });
})();
