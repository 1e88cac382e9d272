// Shared helpers: JSON API calls with the CSRF header, toasts, and data-post / data-delete buttons.
"use strict";
const CSRF = document.querySelector('meta[name="csrf-token"]').content;

async function api(method, url, body, headers = {}) {
  const opts = { method, headers: { "X-CSRF-Token": CSRF, ...headers }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(url, opts);
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) throw Object.assign(new Error((data && data.error) || resp.statusText), { data, status: resp.status });
  return data;
}

function toast(text, ok = true) {
  const el = document.getElementById("toast");
  el.textContent = text; el.className = "flash " + (ok ? "ok" : "err"); el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 5000);
}

function el(tag, attrs = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (k === "text") node.textContent = v; else node.setAttribute(k, v); }
  for (const kid of kids) node.append(kid);
  return node;
}

document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("[data-post],[data-delete]");
  if (!btn) return;
  ev.preventDefault();
  try {
    if (btn.dataset.delete) {
      if (!confirm("Delete this for good?")) return;
      await api("DELETE", btn.dataset.delete);
    } else {
      await api("POST", btn.dataset.post, btn.dataset.body ? JSON.parse(btn.dataset.body) : {});
    }
    if (btn.dataset.then) location.href = btn.dataset.then; else toast("Done");
    document.dispatchEvent(new Event("camapp:changed"));
  } catch (err) { toast(err.message, false); }
});

// Times rendered by the server (ISO, UTC) shown in this browser's locale and time zone.
function localTimes(root = document) {
  root.querySelectorAll("time.local").forEach((t) => { t.textContent = new Date(t.dateTime).toLocaleString(); t.title = t.dateTime; });
}
localTimes();
