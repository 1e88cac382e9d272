// Layout problems, measured in the page (tests/test_web_readable.py): the page wider than the window, or an
// element sticking out of its card (elements inside a scrolling or clipping box, such as the log, are that box's
// business).
() => {
  const out = [], root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) out.push(`page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && e.className.baseVal === undefined && e.className ? "." + String(e.className).split(" ")[0] : "");
  const clipped = (e, card) => { for (let p = e.parentElement; p && p !== card; p = p.parentElement) { if (getComputedStyle(p).overflowX !== "visible") return true; } return false; };
  for (const card of document.querySelectorAll(".card")) {
    const c = card.getBoundingClientRect();
    if (!c.width) continue;
    for (const e of card.querySelectorAll("*")) {
      const r = e.getBoundingClientRect();
      if (!r.width || !r.height || clipped(e, card)) continue;
      const over = Math.max(r.right - c.right, c.left - r.left);
      if (over > 1) out.push(`${name(e)} sticks ${Math.round(over)}px out of its card (${name(card)}): "${(e.innerText || "").slice(0, 60)}"`);
    }
  }
  return out.slice(0, 10);
}
