// Fleet console: the live parts of the page are fetched again every 2 s and swapped in (the server renders them,
// so rows are drawn one way only); the group picker points the action forms at the chosen target.
"use strict";
(function () {
  if (document.getElementById("fleet-live")) {
    setInterval(async () => {
      try {
        const resp = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (!resp.ok) return;
        const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
        for (const id of ["fleet-live", "fleet-count"]) {
          const fresh = doc.getElementById(id), old = document.getElementById(id);
          if (fresh && old) old.replaceWith(fresh);
        }
        const picker = document.getElementById("action-target"), fresh = doc.getElementById("action-target");
        if (picker && fresh && picker.innerHTML !== fresh.innerHTML) {  // a new group: keep what is chosen
          const chosen = picker.value;
          picker.innerHTML = fresh.innerHTML;
          picker.value = chosen;
          if (picker.value !== chosen) picker.value = "all";
        }
      } catch (err) { /* the console restarting: try again next round */ }
    }, 2000);
  }
  document.addEventListener("change", (ev) => {
    if (ev.target.id !== "action-target") return;
    for (const input of document.querySelectorAll('#fleet-actions input[name="target"]')) input.value = ev.target.value;
  });
})();
