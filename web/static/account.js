// Account page: password, API tokens, and (admins) users.
"use strict";
function removeButton(url, after, label = "Remove") {
  const b = el("button", { class: "secondary", type: "button", text: label });
  b.addEventListener("click", async () => { if (!confirm(label + "?")) return; try { await api("DELETE", url); after(); } catch (e) { toast(e.message, false); } });
  return b;
}

function when(t) { return new Date(t * 1000).toLocaleString(); }

async function loadSessions() {
  const { sessions } = await api("GET", "/api/sessions");
  document.getElementById("sessions").replaceChildren(...sessions.map((s) => el("li", { "data-session": s.id },
    el("span", { text: (s.current ? "this browser · " : "") + s.address + " · since " + when(s.created) +
      " · last seen " + when(s.last_seen) + " · " + s.agent.slice(0, 60) }),
    removeButton("/api/sessions/" + s.id, s.current ? () => location.assign("/login") : loadSessions, "End"))));
}

function tokenText(t, withUser) {
  return (withUser ? t.user + " · " : "") + t.name + " (" + t.id + ") · made " + when(t.created) +
    (t.address ? " from " + t.address : "") + (t.via ? " by " + t.via : "") + " · last used " +
    (t.last_used ? when(t.last_used) + " from " + t.last_from : "never");
}

async function loadTokens() {
  const { tokens } = await api("GET", "/api/tokens");
  document.getElementById("tokens").replaceChildren(...tokens.map((t) => el("li", { "data-token": t.id },
    el("span", { text: tokenText(t, false) }), removeButton("/api/tokens/" + t.id, loadTokens, "Revoke"))));
  loadAllTokens();
}

async function loadAllTokens() {
  const list = document.getElementById("alltokens");
  if (!list) return;
  const { tokens } = await api("GET", "/api/users");
  list.replaceChildren(...tokens.map((t) => el("li", { "data-token": t.id }, el("span", { text: tokenText(t, true) }),
    removeButton("/api/tokens/" + t.id, loadTokens, "Revoke"))));
}

const REAUTH = "X-Camapp-Password";  // account changes need your own password again

function removeUserButton(name) {
  const b = el("button", { class: "secondary", type: "button", text: "Remove" });
  b.addEventListener("click", async () => {
    const pw = prompt("Your password, to remove " + name + ":");
    if (!pw) return;
    try { await api("DELETE", "/api/users/" + encodeURIComponent(name), undefined, { [REAUTH]: pw }); loadUsers(); }
    catch (e) { toast(e.message, false); }
  });
  return b;
}

async function loadUsers() {
  const list = document.getElementById("users");
  if (!list) return;
  const { users } = await api("GET", "/api/users");
  const admins = users.filter((u) => u.role === "admin").length;
  // The only admin cannot be removed (nobody could manage the camera after): say so instead of offering it.
  list.replaceChildren(...users.map((u) => el("li", {}, el("span", { text: u.username + " · " + u.role +
    (u.totp ? " · two-factor" : "") }),
    u.role === "admin" && admins === 1 ? el("span", { class: "muted small", text: "the only admin" }) : removeUserButton(u.username))));
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (form) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await handler(Object.fromEntries(new FormData(form))); form.reset(); } catch (e) { toast(e.message, false); }
  });
}
onSubmit("pwform", async (d) => {
  const r = await api("POST", "/api/password", { current: d.current, new: d.new, keep_tokens: d.keep_tokens === "on" });
  toast("Password changed; " + r.sessions_ended + " other session(s) ended, " + r.tokens_revoked + " token(s) revoked");
  loadSessions(); loadTokens();
});
onSubmit("tokform", async (d) => {
  const r = await api("POST", "/api/tokens", { name: d.name }, { [REAUTH]: d.confirm });
  const p = document.getElementById("newtoken"); p.textContent = "New token (copy it now, it is shown once): " + r.token; p.hidden = false;
  loadTokens();
});
onSubmit("userform", async (d) => {
  await api("POST", "/api/users", { username: d.username, password: d.password, role: d.role }, { [REAUTH]: d.confirm });
  toast("User added"); loadUsers();
});
async function loadTotp() {
  const t = await api("GET", "/api/totp");
  document.getElementById("totpstate").textContent = t.enabled
    ? "On: logging in needs your password and the code from your authenticator app."
    : "Off: logging in needs only your password. Set it up to also ask for a code from an authenticator app.";
  document.getElementById("totpsetup").hidden = t.enabled;
  document.getElementById("totpoff").hidden = !t.enabled;
  if (t.enabled) document.getElementById("totpnew").hidden = true;
}
onSubmit("totpsetup", async (d) => {
  const r = await api("POST", "/api/totp/setup", {}, { [REAUTH]: d.confirm });
  document.getElementById("totpsecret").textContent = r.secret;
  document.getElementById("totpuri").textContent = r.uri;
  document.getElementById("totpnew").hidden = false;
});
onSubmit("totpenable", async (d) => {
  await api("POST", "/api/totp/enable", { code: d.code });
  toast("Two-factor sign-in is on"); loadTotp(); loadUsers();
});
onSubmit("totpoff", async (d) => {
  await api("POST", "/api/totp/disable", { code: d.code }, { [REAUTH]: d.confirm });
  toast("Two-factor sign-in is off"); loadTotp(); loadUsers();
});
loadTokens(); loadUsers(); loadSessions(); loadTotp();
