// Zone / mask editor: click to add corners on a still frame (coordinates kept in frame pixels), save via the API.
"use strict";
const svg = document.getElementById("draw");
const still = document.getElementById("still");
const NS = "http://www.w3.org/2000/svg";
let frame = { width: 0, height: 0 };
let zones = [];      // config zone objects (name, polygon, other fields kept as they are)
let masks = [];      // motion mask polygons
let current = [];    // corners of the shape being drawn
const camera = still.dataset.camera;  // several cameras: the one edited (its own zones and mask)
const cameraQuery = camera ? "?camera=" + encodeURIComponent(camera) : "";
const picker = document.getElementById("zone-camera");
if (picker) picker.addEventListener("change", () => picker.form.submit());

function toFrame(ev) {
  const r = svg.getBoundingClientRect();
  return [Math.round((ev.clientX - r.left) * frame.width / r.width), Math.round((ev.clientY - r.top) * frame.height / r.height)];
}

function poly(points, cls, closed) {
  const p = document.createElementNS(NS, closed ? "polygon" : "polyline");
  p.setAttribute("points", points.map((q) => q.join(",")).join(" "));
  const colour = cls === "mask" ? "#ff5252" : cls === "zone" ? "#ffd740" : "#40c4ff";
  p.setAttribute("fill", closed ? colour + "40" : "none");
  p.setAttribute("stroke", colour);
  p.setAttribute("stroke-width", String(Math.max(2, frame.width / 300)));
  return p;
}

function label(text, at) {
  const t = document.createElementNS(NS, "text");
  t.setAttribute("x", at[0] + 6); t.setAttribute("y", at[1] + 20);
  t.setAttribute("fill", "#ffd740"); t.setAttribute("font-size", String(Math.max(14, frame.width / 40)));
  t.textContent = text;
  return t;
}

function render() {
  svg.setAttribute("viewBox", `0 0 ${frame.width || 1} ${frame.height || 1}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const nodes = [];
  zones.forEach((z) => { nodes.push(poly(z.polygon, "zone", true), label(z.name, z.polygon[0])); });
  masks.forEach((m) => nodes.push(poly(m, "mask", true)));
  if (current.length) nodes.push(poly(current, "draft", false));
  current.forEach((q) => { const c = document.createElementNS(NS, "circle"); c.setAttribute("cx", q[0]); c.setAttribute("cy", q[1]);
    c.setAttribute("r", String(Math.max(4, frame.width / 150))); c.setAttribute("fill", "#40c4ff"); nodes.push(c); });
  svg.replaceChildren(...nodes);
  const list = document.getElementById("shapes");
  const item = (text, onDelete) => {
    const b = el("button", { class: "secondary", type: "button", text: "Remove" });
    b.addEventListener("click", () => { onDelete(); render(); });
    return el("li", {}, el("span", { text }), b);
  };
  list.replaceChildren(
    ...zones.map((z, i) => item("Zone " + z.name + " (" + z.polygon.length + " corners)", () => zones.splice(i, 1))),
    ...masks.map((m, i) => item("Motion mask " + (i + 1) + " (" + m.length + " corners)", () => masks.splice(i, 1))));
  if (!zones.length && !masks.length) list.replaceChildren(el("li", { class: "muted", text: "No shapes yet" }));
}

svg.addEventListener("click", (ev) => { if (frame.width) { current.push(toFrame(ev)); render(); } });
document.getElementById("undo").addEventListener("click", () => { current.pop(); render(); });
document.getElementById("newframe").addEventListener("click", () => {
  still.src = (camera ? "/api/cameras/" + encodeURIComponent(camera) : "/api") + "/snapshot.jpg?boxes=0&motion=0&zones=0&t=" + Date.now();
});
document.getElementById("finish").addEventListener("click", () => {
  if (current.length < 3) { toast("A shape needs at least 3 corners", false); return; }
  if (document.getElementById("kind").value === "mask") masks.push(current);
  else {
    const name = document.getElementById("zname").value.trim();
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) { toast("Zone name: letters, digits, _ or - only", false); return; }
    const old = zones.find((z) => z.name === name);
    if (old) old.polygon = current; else zones.push({ name, polygon: current });
    document.getElementById("zname").value = "zone" + (zones.length + 1);
  }
  current = [];
  render();
});
document.getElementById("save").addEventListener("click", async () => {
  const err = document.getElementById("zerr");
  err.hidden = true;
  try {
    const r = await api("PUT", "/api/zones" + cameraQuery, { zones, motion_mask: masks });
    toast("Zones saved" + (r.restart_required.length ? "; restart needed for " + r.restart_required.join(", ") : ""));
  } catch (e) {
    err.textContent = e.data && e.data.errors ? Object.entries(e.data.errors).map(([k, v]) => k + ": " + v).join("\n") : e.message;
    err.hidden = false;
  }
});

(async function load() {
  try {
    const [s, z] = await Promise.all([api("GET", "/api/status" + cameraQuery), api("GET", "/api/zones" + cameraQuery)]);
    frame = s.frame || { width: still.naturalWidth, height: still.naturalHeight };
    zones = z.zones; masks = z.motion_mask;
    render();
  } catch (e) { toast(e.message, false); }
})();
