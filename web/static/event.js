// Event page: the clip player if this browser can play the clip, and the object's path over the snapshot.
"use strict";
(function () {
  // Clips are MP4 with H.264 (avc1) or, when OpenCV has no H.264 encoder, MPEG-4 Part 2 (mp4v), which most
  // browsers cannot decode: show the player only when canPlayType allows it, and fall back to the link on error.
  const clipbox = document.getElementById("clipbox");
  if (!clipbox) return;
  const video = document.getElementById("clip");
  const link = document.getElementById("cliplink");
  const format = clipbox.dataset.format;
  function cannotPlay() {
    video.hidden = true;
    video.removeAttribute("src");
    link.textContent = `Download clip (${format}; your browser cannot play it)`;
    clipbox.dataset.playable = "no";
  }
  if (video.canPlayType(clipbox.dataset.type) === "") {
    cannotPlay();
  } else {
    video.addEventListener("error", cannotPlay);
    video.src = video.dataset.src;
    video.hidden = false;
    clipbox.dataset.playable = "yes";
  }
})();
(function () {
  const box = document.getElementById("pathbox");
  if (!box) return;
  const path = JSON.parse(box.dataset.path || "[]");
  const img = document.getElementById("evimg");
  const svg = document.getElementById("pathsvg");
  function draw() {
    if (path.length < 2) return;
    const w = Number(box.dataset.frameWidth) || img.naturalWidth, h = Number(box.dataset.frameHeight) || img.naturalHeight;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const pts = path.map((p) => p[1] + "," + p[2]).join(" ");
    const ns = "http://www.w3.org/2000/svg";
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts);
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#00e5ff");
    line.setAttribute("stroke-width", String(Math.max(2, w / 250)));
    svg.replaceChildren(line);
    for (const [i, p] of [[0, path[0]], [1, path[path.length - 1]]]) {
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", p[1]); c.setAttribute("cy", p[2]); c.setAttribute("r", String(Math.max(4, w / 120)));
      c.setAttribute("fill", i ? "#ff1744" : "#00e676");
      svg.append(c);
    }
  }
  if (img.complete) draw(); else img.addEventListener("load", draw);
})();
