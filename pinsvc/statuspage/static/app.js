// rollpin status page: renders the state pind sends as server-sent events.
"use strict";

const kinds = {
  HISTORY_KIND_PIN: "pin", HISTORY_KIND_HOLD: "hold", HISTORY_KIND_RELEASE: "release",
  HISTORY_KIND_MODE: "mode", HISTORY_KIND_PIN_DELETED: "pin deleted",
  HISTORY_KIND_CONTRACT: "contract mark", HISTORY_KIND_CONTRACT_DELETED: "contract mark removed",
};
const raiseStates = {
  RAISE_STATE_UP_TO_DATE: "up-to-date", RAISE_STATE_SETTLING: "settling", RAISE_STATE_HELD: "held",
  RAISE_STATE_MANUAL: "manual", RAISE_STATE_BLOCKED: "blocked", RAISE_STATE_NO_INSTANCES: "no-instances",
};

let state = null;   // the last state received
let skew = 0;       // server clock minus browser clock, ms

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "width") e.style.width = v; // CSSOM: allowed by the page's CSP
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// short renders a manifest for a service: its own track's version bare.
function short(service, manifest) {
  if (!manifest) return "-";
  const pkg = service.slice(0, service.lastIndexOf("."));
  const parts = manifest.split(",").map((e) => e.split("="));
  const own = parts.find(([t]) => t === pkg);
  if (!own) return manifest;
  const rest = parts.filter(([t]) => t !== pkg).map(([t, v]) => "+" + t + "=" + v);
  return own[1] + rest.join("");
}

function countdown(until) {
  const ms = Date.parse(until) - (Date.now() + skew);
  if (!(ms > 0)) return "now";
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s" : s + "s";
}

function renderService(st) {
  const name = st.service;
  const pin = st.pin || null;
  const raise = st.raise || {};
  const rstate = raiseStates[raise.state] || "-";
  const total = (st.versions || []).reduce((n, g) => n + (g.instanceIds || []).length, 0);
  const bar = el("div", { class: "bar", role: "img", "aria-label": "instances by version" });
  const legend = el("div", { class: "legend" });
  (st.versions || []).forEach((g, i, all) => {
    const n = (g.instanceIds || []).length;
    const cls = "v" + Math.min(3, all.length - 1 - i === 0 ? 2 : i === 0 ? 0 : 1);
    bar.append(el("span", { class: cls, width: (100 * n / Math.max(total, 1)) + "%", title: short(name, g.manifest) + ": " + n }));
    legend.append((i ? " · " : "") + short(name, g.manifest) + ": " + n);
  });
  const newest = (st.versions || []).at(-1);
  const want = pin && pin.expectedInstances ? pin.expectedInstances : 0;
  let progress = newest ? (newest.instanceIds || []).length + "/" + Math.max(total, want) + " at " + short(name, newest.manifest) : "no live instances";
  if (want > total) progress += " (" + (want - total) + " missing)";
  let raiseText = raise.reason || "";
  if (rstate === "settling" && raise.settleUntil) raiseText = "raise in " + countdown(raise.settleUntil);
  if ((raise.blockingInstances || []).length) raiseText += " (waiting for " + raise.blockingInstances.join(", ") + ")";
  const hold = pin && pin.hold ? pin.hold : null;
  return el("article", { class: "service", "data-service": name },
    el("h3", {}, name),
    el("dl", {},
      el("dt", {}, "pin"), el("dd", { "data-field": "pin" }, pin ? short(name, pin.manifest) : "-"),
      el("dt", {}, "floor"), el("dd", { "data-field": "floor" }, short(name, st.floor)),
      el("dt", {}, "cap"), el("dd", { "data-field": "cap" }, short(name, st.effectiveCap)),
      el("dt", {}, "mode"), el("dd", { "data-field": "mode" }, pin ? (pin.mode === "PIN_MODE_MANUAL" ? "manual" : "auto") : "-"),
      el("dt", {}, "hold"), el("dd", { "data-field": "hold", class: hold ? "hold" : "" }, hold ? hold.reason + " (" + hold.by + ")" : "-"),
      el("dt", {}, "raise"), el("dd", { "data-field": "raise" }, el("span", { class: "badge " + rstate }, rstate), " ", el("span", { "data-field": "raise-text", "data-settle-until": raise.settleUntil || "" }, raiseText)),
      el("dt", {}, "progress"), el("dd", { "data-field": "progress" }, progress),
    ),
    bar, legend);
}

function renderHistory(entries) {
  const ol = document.getElementById("history");
  ol.replaceChildren(...entries.slice().reverse().map((e) => {
    const kind = kinds[e.kind] || e.kind;
    const who = e.service || e.track;
    let what = kind;
    if (e.kind === "HISTORY_KIND_PIN") what = "pin " + (e.from ? short(who, e.from) : "none") + " → " + short(who, e.to);
    if (e.kind === "HISTORY_KIND_MODE") what = "mode " + e.from + " → " + e.to;
    return el("li", { class: kind.split(" ")[0] },
      el("time", { datetime: e.at }, (e.at || "").replace("T", " ").replace(/\..*Z|Z/, "Z")),
      el("strong", {}, who), " ", what,
      e.by ? " by " + e.by : "", e.reason ? " — " + e.reason : "");
  }));
  document.getElementById("history-empty").hidden = entries.length > 0;
}

// renderContracts lists the contract marks: below them no pin of their
// track may be lowered, and older instances are fenced.
function renderContracts(marks) {
  document.getElementById("contracts").replaceChildren(...marks.map((m) =>
    el("li", { "data-track": m.track },
      el("strong", {}, m.track + " " + m.version), " ",
      el("span", { class: "badge " + (m.state === "CONTRACT_STATE_APPLIED" ? "applied" : "pending") },
        m.state === "CONTRACT_STATE_APPLIED" ? "applied" : "pending"),
      " " + m.migration + (m.by ? " by " + m.by : "") + (m.at ? " at " + m.at.replace("T", " ").replace(/\..*Z|Z/, "Z") : ""))));
  document.getElementById("contracts-empty").hidden = marks.length > 0;
}

function render() {
  if (!state) return;
  const services = (state.pins.services || []);
  document.getElementById("services").replaceChildren(...services.map(renderService));
  document.getElementById("empty").hidden = services.length > 0;
  document.getElementById("rev").textContent = "etcd revision " + state.pins.revision;
  renderHistory(state.history.entries || []);
  renderContracts((state.contracts && state.contracts.marks) || []);
}

// Countdowns tick locally between events; no request is made.
setInterval(() => {
  for (const e of document.querySelectorAll("[data-settle-until]")) {
    const until = e.getAttribute("data-settle-until");
    if (until) e.textContent = "raise in " + countdown(until);
  }
}, 1000);

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/events");
  es.addEventListener("state", (ev) => {
    state = JSON.parse(ev.data);
    skew = Date.parse(state.now) - Date.now();
    conn.dataset.state = "live";
    conn.textContent = "live";
    render();
  });
  es.onerror = () => {
    conn.dataset.state = "lost";
    conn.textContent = "reconnecting…";
  };
}

connect();
