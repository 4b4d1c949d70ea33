// mynasim workbench: keeps the server-rendered page live and sends its controls.
// Plain JavaScript, no framework, no build step. Everything from the server is put into the
// page as text (textContent), never as HTML.
"use strict";

const TOKEN_KEY = "mynasim-token";
const MAX_ROWS = 5000;
const state = {
  token: null,
  last: 0, // the number of the newest trace record seen
  paused: false,
  pending: [], // records that arrived while paused
  lastCommand: {}, // slot -> {name, row} of its last command, to pair the response
};

function takeToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search); // out of sight
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  const badge = document.getElementById("token-state");
  if (state.token) {
    badge.textContent = "token: ok";
    badge.className = "ok";
  }
  for (const button of document.querySelectorAll(".controls button, #pki button")) {
    button.disabled = !state.token;
  }
}

function say(text, isError) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers["X-Mynasim-Token"] = state.token;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `${method} ${path}: HTTP ${response.status}`);
  return answer;
}

// -- cards ----------------------------------------------------------------------------

const PIN_LABELS = {
  "jpki/0018": "JPKI user authentication PIN (auth)",
  "jpki/001B": "JPKI signature password (sign)",
  "text/0011": "card-info input support PIN",
  "juki/001C": "residence record PIN",
  "common/001C": "common PIN",
};
const APPLICATIONS = {
  JPKI: "JPKI (公的個人認証)",
  text: "card-info input support (券面事項入力補助)",
  surface: "card surface (券面AP)",
  juki: "residence record (住基)",
  common: "common",
};

function armedText(card) {
  const parts = [];
  if (card.armed_removal) {
    const armed = card.armed_removal;
    parts.push(`removal on INS ${armed.ins} (${armed.when} processing)`);
  }
  for (const fault of card.faults || []) parts.push(`fault ${fault.kind} on INS ${fault.ins}`);
  return parts.join("; ") || "nothing";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showCard(card) {
  const section = document.getElementById(`card-${card.slot}`);
  if (!section) return;
  const application = card.selected
    ? `${APPLICATIONS[card.application] || card.application || "?"} — ${card.selected}`
    : "none (MF)";
  const fields = {
    title: card.persona,
    persona: card.persona,
    token_serial: card.token_serial,
    atr: card.atr,
    vpcd: card.vpcd, // null (--no-vpcd): the page's own words stay
    inserted: card.inserted ? "inserted" : "REMOVED",
    connected: card.connected ? "yes" : "no",
    powered: card.powered ? "yes" : "no",
    application,
    state: card.state || "in memory",
    armed: armedText(card),
  };
  for (const [name, text] of Object.entries(fields)) {
    if (text === null) continue;
    const element = section.querySelector(`[data-field="${name}"]`);
    if (element && element.textContent !== text) element.textContent = text;
  }
  const body = section.querySelector('[data-field="pins"]');
  const rows = [];
  for (const [key, pin] of Object.entries(card.pins)) {
    const row = document.createElement("tr");
    row.dataset.pin = key;
    const label = cell(PIN_LABELS[key] || key);
    label.title = key;
    const remaining = cell(String(pin.remaining), "n");
    remaining.id = `pin-${card.slot}-${key}`;
    const blocked = pin.blocked ? "BLOCKED" : "usable";
    row.append(label, remaining, cell(String(pin.max), "n"), cell(blocked, blocked.toLowerCase()));
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

async function refreshStatus() {
  try {
    const status = await api("GET", "/status");
    status.cards.forEach(showCard);
  } catch (error) {
    say(`status: ${error.message}`, true);
  }
}

function cardControl(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const slot = button.closest("section.card").dataset.slot;
  const value = (id) => document.getElementById(`${id}-${slot}`).value.trim();
  const base = `/cards/${slot}`;
  const action = button.dataset.action;
  let request;
  if (action === "insert" || action === "remove" || action === "reset") {
    request = api("POST", `${base}/${action}`, {});
  } else if (action === "arm") {
    request = api("POST", `${base}/remove`, { ins: value("arm-ins"), when: value("arm-when") });
  } else if (action === "set-pin") {
    const remaining = Number.parseInt(value("pin-remaining"), 10);
    const key = encodeURIComponent(value("pin-key"));
    request = api("POST", `${base}/pins/${key}`, { remaining });
  } else if (action === "persona") {
    const body = { persona: value("persona") };
    if (value("persona-state")) body.state = value("persona-state");
    request = api("POST", `${base}/persona`, body);
  } else if (action === "save") {
    request = api("POST", `${base}/save`, { path: value("save-path") });
  } else if (action === "download") {
    downloadState(slot);
    return;
  }
  request
    .then((card) => {
      showCard(card);
      say(`slot ${slot}: ${action} done`);
    })
    .catch((error) => say(`slot ${slot}: ${action}: ${error.message}`, true));
}

async function downloadState(slot) {
  try {
    const response = await fetch(`/cards/${slot}/state`, {
      headers: { "X-Mynasim-Token": state.token || "" },
      cache: "no-store",
    });
    if (!response.ok) throw new Error((await response.json()).error);
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    offer(await response.blob(), name ? name[1] : "mynasim-state.json");
    say(`slot ${slot}: state downloaded`);
  } catch (error) {
    say(`slot ${slot}: download: ${error.message}`, true);
  }
}

function offer(blob, filename) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// -- trace ----------------------------------------------------------------------------

function traceRow(item) {
  const record = item.record;
  const row = document.createElement("tr");
  row.record = record;
  // a served slot ("0") or a bridge session ("bridge b1"; "bridge b1 (slot 0)" when shared)
  const where = record.session
    ? `bridge ${record.session}${record.slot === null || record.slot === undefined ? "" : ` (slot ${record.slot})`}`
    : String(record.slot);
  row.dataset.slot = record.session ? `bridge ${record.session}` : String(record.slot);
  row.className = record.direction;
  const time = (record.time || "").replace(/^.*T/, "").replace("Z", "");
  let name = "";
  let apdu = record.apdu || "";
  let sw = "";
  let meaning = "";
  if (record.direction === "command") {
    name = item.name || "";
    state.lastCommand[where] = { name, row };
  } else if (record.direction === "response") {
    const command = state.lastCommand[where];
    name = command ? command.name : "";
    sw = record.sw || "";
    meaning = record.meaning || "";
    if (command) {
      command.row.dataset.sw = sw;
      command.row.querySelector(".sw").textContent = sw;
      command.row.querySelector(".meaning").textContent = meaning;
      state.lastCommand[where] = null;
    }
    if (sw && sw !== "9000" && !sw.startsWith("61")) row.classList.add("bad");
  } else {
    name = record.event || "";
    apdu = "";
  }
  row.dataset.command = name;
  row.dataset.sw = sw;
  const arrow = { command: ">", response: "<", event: "*" }[record.direction] || "";
  row.append(
    cell(time),
    cell(where),
    cell(arrow),
    cell(name, "name"),
    cell(apdu, "apdu"),
    cell(sw, "sw"),
    cell(meaning, "meaning"),
  );
  return row;
}

function matches(row) {
  const text = document.getElementById("trace-text").value.trim().toLowerCase();
  const command = document.getElementById("trace-command").value;
  const swFilter = document.getElementById("trace-sw").value.trim().toUpperCase();
  const slot = document.getElementById("trace-slot").value;
  const events = document.getElementById("trace-events").checked;
  const isEvent = row.record.direction === "event";
  if (slot && row.dataset.slot !== slot) return false;
  if (isEvent) return events && !command && !swFilter && (!text || row.textContent.toLowerCase().includes(text));
  if (command && !row.dataset.command.startsWith(command)) return false;
  if (swFilter) {
    const negate = swFilter.startsWith("!");
    const wanted = negate ? swFilter.slice(1) : swFilter;
    const hit = row.dataset.sw !== "" && row.dataset.sw.startsWith(wanted);
    if (hit === negate) return false;
  }
  return !text || row.textContent.toLowerCase().includes(text);
}

function applyFilters() {
  const rows = document.getElementById("trace-rows").children;
  let shown = 0;
  for (const row of rows) {
    const visible = matches(row);
    row.classList.toggle("hidden", !visible);
    if (visible) shown += 1;
  }
  const paused = state.paused ? `, paused (${state.pending.length} waiting)` : "";
  document.getElementById("trace-count").textContent = `(${shown} of ${rows.length} shown${paused})`;
}

function addRecords(items) {
  const body = document.getElementById("trace-rows");
  for (const item of items) {
    const row = traceRow(item);
    row.classList.toggle("hidden", !matches(row));
    body.append(row);
  }
  while (body.children.length > MAX_ROWS) body.firstElementChild.remove();
  applyFilters();
}

async function pollTrace() {
  for (;;) {
    try {
      const answer = await api("GET", `/trace?after=${state.last}&wait=20`);
      if (answer.last < state.last) state.last = 0; // a restarted server numbers anew
      if (answer.records.length) {
        state.last = answer.records[answer.records.length - 1].seq;
        if (state.paused) {
          state.pending.push(...answer.records);
          applyFilters();
        } else {
          addRecords(answer.records);
        }
      }
    } catch (error) {
      say(`trace: ${error.message}`, true);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function togglePause() {
  state.paused = !state.paused;
  document.getElementById("trace-pause").textContent = state.paused ? "resume" : "pause";
  if (!state.paused) {
    const waiting = state.pending;
    state.pending = [];
    addRecords(waiting);
  }
  applyFilters();
}

function exportShown() {
  const lines = [];
  for (const row of document.getElementById("trace-rows").children) {
    if (!row.classList.contains("hidden")) lines.push(JSON.stringify(row.record));
  }
  const text = lines.length ? lines.join("\n") + "\n" : "";
  offer(new Blob([text], { type: "application/x-ndjson" }), "mynasim-trace.jsonl");
  say(`exported ${lines.length} record(s)`);
}

// -- test PKI -------------------------------------------------------------------------

function showPki(pki) {
  document.getElementById("pki-clock").textContent = pki.clock.now;
  document.getElementById("pki-fixed").textContent = pki.clock.fixed ? "fixed" : "real time";
  document.getElementById("pki-ocsp-now").textContent = pki.ocsp;
  document.getElementById("pki-crl-now").textContent = pki.crl;
}

async function refreshPki() {
  try {
    showPki(await api("GET", "/pki"));
  } catch (error) {
    say(`pki: ${error.message}`, true);
  }
}

function applyPki() {
  const body = {};
  const now = document.getElementById("pki-now").value.trim();
  if (document.getElementById("pki-real").checked) body.now = null;
  else if (now) body.now = now;
  for (const key of ["ocsp", "crl", "responder"]) body[key] = document.getElementById(`pki-${key}`).value;
  api("POST", "/pki", body)
    .then((pki) => {
      showPki(pki);
      say("pki: applied");
    })
    .catch((error) => say(`pki: ${error.message}`, true));
}

// -- start ----------------------------------------------------------------------------

function start() {
  takeToken();
  document.getElementById("cards").addEventListener("click", cardControl);
  for (const id of ["trace-text", "trace-command", "trace-sw", "trace-slot", "trace-events"]) {
    document.getElementById(id).addEventListener("input", applyFilters);
  }
  document.getElementById("trace-pause").addEventListener("click", togglePause);
  document.getElementById("trace-clear").addEventListener("click", () => {
    document.getElementById("trace-rows").replaceChildren();
    applyFilters();
  });
  document.getElementById("trace-export").addEventListener("click", exportShown);
  refreshStatus();
  setInterval(refreshStatus, 700);
  if (document.getElementById("pki")) {
    document.getElementById("pki-apply").addEventListener("click", applyPki);
    setInterval(refreshPki, 2000);
  }
  pollTrace();
}

document.addEventListener("DOMContentLoaded", start);
