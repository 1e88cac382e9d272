// Model page: upload or pick a model; the server probes it before switching.
"use strict";
const result = document.getElementById("mresult");
function show(text, ok) { result.textContent = text; result.className = "flash " + (ok ? "ok" : "err"); result.hidden = false; }

async function load() {
  const m = await api("GET", "/api/model");
  document.getElementById("manifest").textContent = m.configured;
  document.getElementById("running").textContent = m.running || "(unknown)";
  const list = document.getElementById("installed");
  list.replaceChildren(...m.installed.map((e) => {
    const li = el("li", {}, el("span", { text: e.id + (e.signed ? " (signed)" : "") + " · " + (e.size / 1e6).toFixed(1) + " MB" }));
    if (e.active) li.append(el("span", { class: "badge ok", text: "active" }));
    else { const b = el("button", { class: "secondary", type: "button", text: "Use" });
      b.addEventListener("click", async () => { try { await api("POST", "/api/model/activate", { id: e.id }); show("Switched to " + e.id, true); load(); } catch (err) { show(err.message, false); } });
      li.append(b); }
    return li;
  }));
  if (!m.installed.length) list.replaceChildren(el("li", { class: "muted", text: "Only the built-in model so far" }));
}

document.getElementById("upload").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  if (!form.get("signature") || !form.get("signature").size) form.delete("signature");
  show("Checking the model…", true);
  try { const e = await api("POST", "/api/model", form); show("Now running model " + e.id, true); load(); }
  catch (err) { show(err.message, false); }
});
document.getElementById("bypath").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try { const e = await api("POST", "/api/model", { model_path: f.get("model_path"), labels_path: f.get("labels_path") });
    show("Now running model " + e.id, true); load(); } catch (err) { show(err.message, false); }
});
load().catch((e) => show(e.message, false));
