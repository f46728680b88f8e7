// The operations page: plain JavaScript, no build step. It polls /ops/state every 3 s and draws
// the connectors (streaming, heartbeat, binlog headroom, outbox backlog), the consumer groups
// (lag, dead letters) and each pending dead letter with a button that re-injects its key.
"use strict";

const $ = (selector) => document.querySelector(selector);

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  const s = Math.max(0, Math.round(value));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function fill(tableId, rows, draw) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  for (const item of rows) {
    const row = document.createElement("tr");
    draw(row, item);
    body.appendChild(row);
  }
}

function binlogText(binlog) {
  if (!binlog) return "–";
  const left = binlog.secondsLeft === null ? "" : ` (${seconds(binlog.secondsLeft)} left)`;
  return `${binlog.verdict.toUpperCase()}${left}: ${binlog.detail}`;
}

// Debezium's own MilliSecondsBehindSource, read from the Connect worker's metrics page.
function behindText(metrics) {
  if (!metrics || metrics.behindSourceMs === null || metrics.behindSourceMs === undefined) return "–";
  const queue = metrics.queueTotalCapacity
    ? `, queue ${metrics.queueTotalCapacity - metrics.queueRemainingCapacity}/${metrics.queueTotalCapacity}` : "";
  // Debezium reports -1 until the connector has streamed its first event.
  const behind = metrics.behindSourceMs < 0 ? "no event yet" : `${metrics.behindSourceMs} ms`;
  return `${behind}${queue}`;
}

function draw(state) {
  $("#ops-at").textContent = state.at.replace("T", " ").replace(/\.\d+Z$/, "");
  const problems = [];
  fill("connectors", state.connectors, (row, c) => {
    row.dataset.name = c.name;
    cell(row, c.name);
    if (c.error) { cell(row, c.error, "bad"); problems.push(`${c.name}: ${c.error}`); return; }
    cell(row, c.streaming ? "streaming" : `NOT STREAMING (${c.state || "Connect down"})`, c.streaming ? "good" : "bad");
    cell(row, c.heartbeatAgeSeconds === null ? "none" : `${seconds(c.heartbeatAgeSeconds)} ago`);
    const verdict = c.binlog ? c.binlog.verdict : "unknown";
    cell(row, binlogText(c.binlog), verdict === "purged" ? "bad" : verdict === "warning" ? "warn" : "").classList.add("binlog");
    const out = c.outbox || {};
    cell(row, out.waiting === null || out.waiting === undefined ? "–"
      : out.waiting === 0 ? "none" : `${out.waiting}, oldest ${seconds(out.oldestWaitingSeconds)} ago`);
    cell(row, behindText(c.metrics)).classList.add("behind");
    if (!c.streaming) problems.push(`${c.name} is not streaming`);
    if (verdict === "purged" || verdict === "warning") problems.push(`${c.name}: binlog ${verdict}`);
  });
  const letters = [];
  fill("groups", state.groups, (row, g) => {
    row.dataset.group = g.group;
    cell(row, g.group);
    if (g.error) { cell(row, g.error, "bad"); problems.push(`${g.group}: ${g.error}`); return; }
    cell(row, g.members);
    cell(row, g.lag);
    const dl = g.deadLetters || {};
    cell(row, dl.error ? dl.error : dl.pending ? `${dl.pending} on ${dl.keys} key(s)` : "none", dl.pending ? "bad" : "");
    if (dl.pending) problems.push(`${g.group}: ${dl.pending} dead letter(s)`);
    for (const record of dl.records || []) letters.push({ group: g.group, ...record });
  });
  fill("dead-letters", letters, (row, d) => {
    row.dataset.eventId = d.eventId || "";
    cell(row, d.group);
    cell(row, d.id);
    cell(row, d.key);
    cell(row, `${d.eventType || "?"} ${d.eventId || ""} from ${d.source}`);
    cell(row, d.parked ? `parked behind an earlier dead letter of its key` : `${d.errorClass}: ${d.error}`);
    cell(row, d.attempts);
    cell(row, seconds(d.ageSeconds));
    cell(row, `${d.reinjected}x`, "reinjected");
    const td = cell(row, "");
    if (!d.parked && d.key) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "reinject";
      button.textContent = "Re-inject key";
      button.addEventListener("click", () => reinject(d.group, d.key, button));
      td.appendChild(button);
    }
  });
  const summary = $("#ops-summary");
  summary.className = problems.length ? "banner bad-banner" : "banner good-banner";
  summary.textContent = problems.length ? `Needs attention: ${problems.join("; ")}` : "Pipeline healthy: every connector streams, nothing is dead-lettered.";
}

async function reinject(group, key, button) {
  button.disabled = true;
  const response = await fetch(`/ops/dead-letters/${encodeURIComponent(group)}/reinject`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ key }),
  });
  const data = await response.json().catch(() => ({}));
  const message = $("#ops-message");
  message.hidden = false;
  message.textContent = response.ok
    ? `Re-injected ${data.reinjected.length} record(s) of key ${key} into ${data.retryTopic}`
      + (data.missing.length ? `; ${data.missing.length} could not be found` : "")
    : `Re-injection refused: ${data.error || response.status}`;
  await refresh();
}

async function refresh() {
  try {
    const response = await fetch("/ops/state");
    draw(await response.json());
  } catch (error) {
    $("#ops-summary").textContent = `The API does not answer (${error})`;
  }
}

refresh();
setInterval(refresh, 3000);
