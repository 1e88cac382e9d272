// Account page: password, API tokens, and (admins) users.
"use strict";
function removeButton(url, after) {
  const b = el("button", { class: "secondary", type: "button", text: "Remove" });
  b.addEventListener("click", async () => { if (!confirm("Remove?")) return; try { await api("DELETE", url); after(); } catch (e) { toast(e.message, false); } });
  return b;
}

async function loadTokens() {
  const { tokens } = await api("GET", "/api/tokens");
  document.getElementById("tokens").replaceChildren(...tokens.map((t) =>
    el("li", {}, el("span", { text: t.name + " (" + t.id + ")" }), removeButton("/api/tokens/" + t.id, loadTokens))));
}

async function loadUsers() {
  const list = document.getElementById("users");
  if (!list) return;
  const { users } = await api("GET", "/api/users");
  list.replaceChildren(...users.map((u) => el("li", {}, el("span", { text: u.username + " · " + u.role }),
    removeButton("/api/users/" + encodeURIComponent(u.username), loadUsers))));
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await handler(Object.fromEntries(new FormData(form))); form.reset(); } catch (e) { toast(e.message, false); }
  });
}
onSubmit("pwform", async (d) => { await api("POST", "/api/password", d); toast("Password changed"); });
onSubmit("tokform", async (d) => {
  const r = await api("POST", "/api/tokens", d);
  const p = document.getElementById("newtoken"); p.textContent = "New token (copy it now, it is shown once): " + r.token; p.hidden = false;
  loadTokens();
});
onSubmit("userform", async (d) => { await api("POST", "/api/users", d); toast("User added"); loadUsers(); });
loadTokens(); loadUsers();
