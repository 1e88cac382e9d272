// Settings: structured values (zones, masks, rules, GPIO outputs and inputs, sinks) edited as real fields, built from
// each setting's JSON Schema (the config models: their descriptions are the help text). The JSON textarea stays
// (under "Advanced") and is what the form sends: every change here rewrites it, and editing it redraws the fields.
"use strict";
(function () {
  const editors = {};  // dotted config name -> { get() }
  // Raspberry Pi 40-pin header: BCM GPIO number -> physical pin (and its other job).
  const PI_PINS = [[2, 3, "I2C SDA"], [3, 5, "I2C SCL"], [4, 7], [17, 11], [27, 13], [22, 15], [10, 19, "SPI MOSI"],
    [9, 21, "SPI MISO"], [11, 23, "SPI SCLK"], [5, 29], [6, 31], [13, 33, "PWM1"], [19, 35], [26, 37], [14, 8, "UART TX"],
    [15, 10, "UART RX"], [18, 12, "PWM0"], [23, 16], [24, 18], [25, 22], [8, 24, "SPI CE0"], [7, 26, "SPI CE1"],
    [12, 32, "PWM0"], [16, 36], [20, 38], [21, 40]];
  const WORDS = { s: "(seconds)", px: "(pixels)", mb: "(MB)", pct: "(%)", ms: "(ms)", min: "minimum", max: "maximum",
    iou: "overlap", mqtt: "MQTT", gpio: "GPIO", pwm: "PWM", led: "LED" };
  const human = (key) => { const w = key.split("_").map((p) => WORDS[p] || p).join(" "); return w[0].toUpperCase() + w.slice(1); };
  const changed = () => document.dispatchEvent(new Event("camapp:edited"));

  function resolve(schema, defs) {
    while (schema && schema.$ref) schema = defs[schema.$ref.split("/").pop()];
    return schema || {};
  }
  function nullable(schema) {
    if (!schema.anyOf) return null;
    const rest = schema.anyOf.filter((s) => s.type !== "null");
    return rest.length === 1 && rest.length < schema.anyOf.length ? rest[0] : null;
  }
  function blank(schema, defs) {
    schema = resolve(schema, defs);
    if (schema.default !== undefined) return JSON.parse(JSON.stringify(schema.default));
    if (schema.enum) return schema.enum[0];
    if (schema.type === "object") {
      const o = {};
      for (const [k, p] of Object.entries(schema.properties || {})) {
        const r = resolve(p, defs);
        if (p.default !== undefined) o[k] = JSON.parse(JSON.stringify(p.default));
        else if ((schema.required || []).includes(k)) o[k] = blank(r, defs);
      }
      return o;
    }
    if (schema.type === "array") return [];
    if (schema.type === "integer" || schema.type === "number") return schema.minimum || 0;
    if (schema.type === "boolean") return false;
    return "";
  }
  function field(label, help, input, path) {
    const box = el("div", { class: "sub", "data-path": path });
    box.append(el("label", { text: label }), input);
    if (help) box.append(el("p", { class: "help", text: help }));
    return box;
  }
  const isPolygon = (s) => s.type === "array" && s.items && s.items.prefixItems && s.items.prefixItems.length === 2;

  // One widget for one value: { node, get() }.
  function widget(schema, value, defs, path, key) {
    const inner = nullable(schema);
    if (inner && resolve(inner, defs).type === "object") {
      const box = el("div", { class: "optional" });
      const on = el("input", { type: "checkbox" });
      on.checked = value != null;
      let w = widget(inner, value != null ? value : blank(inner, defs), defs, path, key);
      const body = el("div", {}, w.node); body.hidden = !on.checked;
      on.addEventListener("change", () => { body.hidden = !on.checked; changed(); });
      box.append(el("label", { class: "check" }, on, el("span", { text: "Set its own" })), body);
      return { node: box, get: () => (on.checked ? w.get() : null) };
    }
    if (inner) schema = inner;
    schema = resolve(schema, defs);
    if (key === "pin") return pinPicker(value);
    if (schema.enum) {
      const sel = el("select", { "data-path": path });
      schema.enum.forEach((o) => { const opt = el("option", { value: o, text: String(o).replace(/_/g, " ") }); opt.selected = o === value; sel.append(opt); });
      return { node: sel, get: () => sel.value };
    }
    if (schema.type === "boolean") {
      const cb = el("input", { type: "checkbox", "data-path": path }); cb.checked = !!value;
      return { node: cb, get: () => cb.checked };
    }
    if (schema.type === "integer" || schema.type === "number") {
      const inp = el("input", { type: "number", step: schema.type === "integer" ? "1" : "any", "data-path": path });
      if (schema.minimum !== undefined) inp.min = schema.minimum;
      if (schema.maximum !== undefined) inp.max = schema.maximum;
      inp.value = value == null ? "" : value;
      return { node: inp, get: () => (inp.value === "" ? (inner ? null : undefined) : Number(inp.value)) };
    }
    if (schema.type === "object") return objectForm(schema, value || {}, defs, path);
    if (isPolygon(schema)) return polygonEditor(value || [], path);
    if (schema.type === "array" && schema.items) {
      const item = resolve(schema.items, defs);
      if (item.enum) return checkGroup(item.enum, value || [], path);
      if (key === "zones") return namesGroup(scope + "zones", value || [], path);
      if (item.type === "string") {
        const inp = el("input", { type: "text", "data-path": path, placeholder: "comma-separated" });
        inp.value = (value || []).join(", ");
        return { node: inp, get: () => inp.value.split(",").map((v) => v.trim()).filter(Boolean) };
      }
      return listEditor(schema.items, value || [], defs, path, schema.items.$ref ? schema.items.$ref.split("/").pop() : isPolygon(item) ? "area" : "item");
    }
    if (key === "output") return namesSelect("gpio.outputs", value, path);
    const inp = el("input", { type: /HH:MM/.test(schema.description || "") ? "time" : "text", "data-path": path });
    inp.value = value == null ? "" : value;
    return { node: inp, get: () => (inp.value === "" && inner ? null : inp.value) };
  }

  function objectForm(schema, value, defs, path) {
    const box = el("div", { class: "objform" });
    const parts = {};
    for (const [k, p] of Object.entries(schema.properties || {})) {
      const start = value[k] !== undefined ? value[k] : p.default !== undefined ? p.default : resolve(p, defs).type === "object" ? blank(p, defs) : undefined;
      const w = widget(p, start, defs, path ? path + "." + k : k, k);
      parts[k] = w;
      box.append(field(human(k), p.description || resolve(p, defs).description || "", w.node, path ? path + "." + k : k));
    }
    return { node: box, get: () => {
      const o = { ...value };
      for (const [k, w] of Object.entries(parts)) { const v = w.get(); if (v === undefined) delete o[k]; else o[k] = v; }
      return o;
    } };
  }

  function listEditor(itemSchema, values, defs, path, title) {
    const box = el("div", { class: "listed" }), items = [];
    const noun = title.replace(/Config$/, "").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() || "item";
    const add = el("button", { type: "button", class: "secondary", text: "Add " + noun });
    function addItem(v) {
      const i = items.length, w = widget(itemSchema, v, defs, path ? path + "." + i : String(i));
      const remove = el("button", { type: "button", class: "secondary", text: "Remove this " + noun });
      const card = el("div", { class: "item" }, w.node, remove);
      const entry = { card, get: w.get };
      remove.addEventListener("click", () => { items.splice(items.indexOf(entry), 1); card.remove(); changed(); });
      items.push(entry); box.insertBefore(card, add); changed();
    }
    box.append(add);
    const own = scope;  // an item added later belongs to this editor's camera, whichever editor was built last
    add.addEventListener("click", () => { scope = own; addItem(blank(itemSchema, defs)); });
    values.forEach(addItem);
    return { node: box, get: () => items.map((e) => e.get()) };
  }

  function checkGroup(options, chosen, path) {
    const box = el("div", { class: "row checks", "data-path": path });
    const boxes = options.map((o) => { const cb = el("input", { type: "checkbox", value: o }); cb.checked = chosen.includes(o);
      box.append(el("label", { class: "check" }, cb, el("span", { text: String(o) }))); return cb; });
    return { node: box, get: () => boxes.filter((b) => b.checked).map((b) => b.value) };
  }

  // Names defined elsewhere on the page (zones for a rule, outputs for an action), refreshed as they are edited.
  // A camera's rules name its own zones when it has them (cameras.<name>.zones), else the top level's.
  let scope = "";
  function names(of) {
    const e = editors[of], items = e ? e.get() : null;
    if (items == null && of !== "zones" && of.endsWith(".zones")) return names("zones");
    return items ? items.map((x) => x && x.name).filter(Boolean) : [];
  }
  function namesGroup(of, chosen, path) {
    const box = el("div", { class: "row checks", "data-path": path });
    let picked = [...chosen], shown = null;
    function draw() {
      const all = [...new Set([...names(of), ...picked])];
      if (shown === all.join("\n")) return;  // unchanged: keep the boxes (a click may be landing on one)
      shown = all.join("\n");
      box.replaceChildren(...(all.length ? all.map((n) => {
        const cb = el("input", { type: "checkbox", value: n }); cb.checked = picked.includes(n);
        cb.addEventListener("change", () => { picked = cb.checked ? [...picked, n] : picked.filter((p) => p !== n); });
        return el("label", { class: "check" }, cb, el("span", { text: n }));
      }) : [el("span", { class: "muted small", text: "none defined yet (anywhere)" })]));
    }
    draw(); document.addEventListener("camapp:names", draw);
    return { node: box, get: () => picked.filter((n) => names(of).includes(n) || chosen.includes(n)) };
  }
  function namesSelect(of, value, path) {
    const sel = el("select", { "data-path": path });
    let current = value || "", shown = null;
    function draw() {
      const all = [...new Set([...names(of), ...(current ? [current] : [])])];
      if (shown === all.join("\n")) return;
      shown = all.join("\n");
      sel.replaceChildren(...(all.length ? all : [""]).map((n) => { const o = el("option", { value: n, text: n || "(add an output first)" }); o.selected = n === current; return o; }));
    }
    sel.addEventListener("change", () => { current = sel.value; });
    draw(); document.addEventListener("camapp:names", draw);
    return { node: sel, get: () => sel.value };
  }

  function pinPicker(value) {
    const sel = el("select", {});
    const other = el("input", { type: "text", placeholder: "e.g. BOARD11 or a Jetson pin", hidden: "" });
    PI_PINS.forEach(([bcm, phys, use]) => sel.append(el("option", { value: String(bcm), text: `GPIO${bcm} (pin ${phys}${use ? ", " + use : ""})` })));
    sel.append(el("option", { value: "", text: "Other…" }));
    const known = PI_PINS.some(([bcm]) => String(bcm) === String(value));
    if (known) sel.value = String(value); else { sel.value = ""; other.hidden = false; other.value = value == null ? "" : value; }
    sel.addEventListener("change", () => { other.hidden = sel.value !== ""; });
    return { node: el("span", { class: "pin" }, sel, other), get: () => (sel.value !== "" ? Number(sel.value) : /^\d+$/.test(other.value) ? Number(other.value) : other.value) };
  }

  // Corners in frame pixels, drawn by clicking on a still of the live frame (as on the Zones page) or typed.
  function polygonEditor(points, path) {
    let pts = points.map((p) => [p[0], p[1]]);
    const text = el("input", { type: "text", "data-path": path, placeholder: "x,y x,y x,y (frame pixels)" });
    const draw = el("button", { type: "button", class: "secondary", text: "Draw on the live frame" });
    const clear = el("button", { type: "button", class: "secondary", text: "Clear corners" });
    const stage = el("div", { class: "stack drawpad", hidden: "" });
    const img = el("img", { alt: "Live frame to draw on" });
    const NS = "http://www.w3.org/2000/svg", svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "overlay editable");
    stage.append(img, svg);
    let frame = null;  // the camera frame's size: corners are in its pixels (the still is the smaller stream size)
    const show = () => {
      text.value = pts.map((p) => p.join(",")).join(" ");
      if (!frame) return;
      svg.setAttribute("viewBox", `0 0 ${frame.width} ${frame.height}`);
      const pl = document.createElementNS(NS, "polygon");
      pl.setAttribute("points", text.value); pl.setAttribute("fill", "#ffd74040"); pl.setAttribute("stroke", "#ffd740");
      pl.setAttribute("stroke-width", String(Math.max(2, frame.width / 300)));
      svg.replaceChildren(pl);
    };
    draw.addEventListener("click", async () => {
      try { frame = (await api("GET", "/api/status")).frame; } catch (e) { frame = null; }
      if (!frame) { toast("No camera picture yet to draw on; type the corners instead", false); return; }
      stage.hidden = false; img.src = "/api/snapshot.jpg?boxes=0&t=" + Date.now();
    });
    img.addEventListener("load", show);
    svg.addEventListener("click", (ev) => {
      if (!frame) return;
      const r = svg.getBoundingClientRect();
      pts.push([Math.round((ev.clientX - r.left) * frame.width / r.width), Math.round((ev.clientY - r.top) * frame.height / r.height)]);
      show(); changed();
    });
    clear.addEventListener("click", () => { pts = []; show(); changed(); });
    text.addEventListener("change", () => { pts = text.value.trim().split(/\s+/).filter(Boolean).map((p) => p.split(",").map(Number)); show(); });
    show();
    return { node: el("div", { class: "polygon" }, text, el("div", { class: "row" }, draw, clear), stage), get: () => pts };
  }

  // A camera's override of a top-level section (cameras.<name>.motion, .zones, ...): off, it follows the top level;
  // on, it shows the top level's values and saves only the keys the camera gives or the user changes, so an
  // untouched key keeps following the top level.
  const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);
  function sparseObject(schema, given, inherit, defs, path) {
    const box = el("div", { class: "objform" }), parts = {}, touched = new Set(Object.keys(given || {}));
    for (const [k, p] of Object.entries(schema.properties || {})) {
      const mine = given ? given[k] : undefined, top = inherit ? inherit[k] : undefined;
      const start = isObj(mine) && isObj(top) ? { ...top, ...mine } : mine !== undefined ? mine : top !== undefined ? top : p.default;
      const w = widget(p, start === undefined ? blank(p, defs) : start, defs, path + "." + k, k);
      const note = el("span", { class: "muted small inherited", text: " (the top level's)" });
      note.hidden = touched.has(k);
      const f = field(human(k), p.description || resolve(p, defs).description || "", w.node, path + "." + k);
      f.querySelector("label").append(note);
      const touch = () => { touched.add(k); note.hidden = true; };
      ["input", "change", "click"].forEach((e) => w.node.addEventListener(e, touch));
      parts[k] = w;
      box.append(f);
    }
    return { node: box, get: () => Object.fromEntries([...touched].filter((k) => parts[k]).map((k) => [k, parts[k].get()]).filter(([, v]) => v !== undefined)) };
  }
  function overrideWidget(schema, value, inherit, defs) {
    const inner = nullable(schema) || schema, r = resolve(inner, defs);
    const on = el("input", { type: "checkbox", class: "own" });
    on.checked = value != null;
    const w = r.type === "object" ? sparseObject(r, value, inherit, defs, "")
      : widget(inner, value != null ? value : inherit != null ? JSON.parse(JSON.stringify(inherit)) : blank(inner, defs), defs, "", "");
    const body = el("div", {}, w.node); body.hidden = !on.checked;
    on.addEventListener("change", () => { body.hidden = !on.checked; changed(); });
    const box = el("div", { class: "optional" }, el("label", { class: "check" }, on, el("span", { text: "This camera's own (else the top level's)" })), body);
    return { node: box, get: () => (on.checked ? w.get() : null) };
  }

  document.querySelectorAll(".editor[data-schema]").forEach((box) => {
    const area = document.getElementById(box.dataset.for);
    const schema = JSON.parse(box.dataset.schema), defs = schema.$defs || {};
    let w;
    const build = () => {
      let value;
      try { value = JSON.parse(area.value || "null"); } catch (e) { return; }  // typed JSON not valid yet: keep the fields
      scope = /^cameras\.[^.]+\./.test(box.dataset.name) ? box.dataset.name.split(".").slice(0, 2).join(".") + "." : "";
      w = box.dataset.inherit !== undefined ? overrideWidget(schema, value, JSON.parse(box.dataset.inherit), defs)
        : widget(schema, value == null ? blank(schema, defs) : value, defs, "", "");
      box.replaceChildren(w.node);
      editors[box.dataset.name] = w;
    };
    build();
    const sync = () => { area.value = JSON.stringify(w.get(), null, 1); };
    box.addEventListener("input", sync); box.addEventListener("change", sync); box.addEventListener("click", () => setTimeout(sync));
    document.addEventListener("camapp:edited", () => setTimeout(sync));
    area.addEventListener("change", () => { build(); document.dispatchEvent(new Event("camapp:names")); });
    // A validation error about part of the value ("0.pin: ...") is shown next to that part.
    const err = box.closest(".field").querySelector(".field-error");
    const m = err && /^([\w.]+): (.*)$/.exec(err.textContent);
    const at = m && box.querySelector(`[data-path="${m[1]}"]`);
    if (at) { at.classList.add("invalid"); at.append(el("p", { class: "field-error", text: m[2] })); }
  });
  document.addEventListener("camapp:edited", () => setTimeout(() => document.dispatchEvent(new Event("camapp:names"))));
  document.addEventListener("focusin", (ev) => { if (ev.target.matches(".editor select, .editor input")) document.dispatchEvent(new Event("camapp:names")); });
  // Removing a camera asks first (the button submits the form to its own address).
  document.querySelectorAll("button[data-confirm]").forEach((b) => b.addEventListener("click", (ev) => {
    if (!confirm(b.dataset.confirm)) ev.preventDefault();
  }));
})();
