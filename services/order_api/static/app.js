// The order page: plain JavaScript, no build step. It polls the API: the list every 2 s, an
// order every second. An order's view comes from the read model, which applies events a moment
// after they were written; while it is behind what this page (or anyone) wrote, the API says
// "pending" and the page shows the syncing banner, which clears by itself when the view catches up.
"use strict";

const $ = (selector) => document.querySelector(selector);
let timer = null;
// The version each order had after this page's last write to it (read-your-writes).
const wrote = JSON.parse(sessionStorage.getItem("wrote") || "{}");

function remember(id, version) {
  wrote[id] = Math.max(version, wrote[id] || 0);
  sessionStorage.setItem("wrote", JSON.stringify(wrote));
}

function money(cents, currency) {
  if (cents === null || cents === undefined) return "…";
  return `${(cents / 100).toFixed(2)} ${currency || ""}`;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method, headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { /* empty body */ }
  return { status: response.status, data };
}

function show(page) {
  $("#home-page").hidden = page !== "home";
  $("#order-page").hidden = page !== "order";
}

// --- the list -------------------------------------------------------------------------------

async function refreshList() {
  const status = $("#status-filter").value;
  const { status: code, data } = await api("GET", `/orders?limit=20${status ? `&status=${status}` : ""}`);
  if (code !== 200) return;
  const body = $("#orders-list tbody");
  body.replaceChildren();
  for (const order of data.orders) {
    const row = document.createElement("tr");
    row.dataset.id = order.id;
    cell(row, (order.placedAt || "").replace("T", " ").slice(0, 19));
    const link = document.createElement("a");
    link.href = `#/orders/${order.id}`;
    link.textContent = order.id.slice(0, 8);
    cell(row, "").appendChild(link);
    cell(row, order.customerId);
    cell(row, money(order.totalCents, order.currency));
    cell(row, order.status).className = `status ${order.status}`;
    body.appendChild(row);
  }
  $("#orders-count").textContent = `${data.total} order(s) in the read model`;
}

// --- one order ------------------------------------------------------------------------------

async function refreshOrder(id) {
  const minVersion = wrote[id] ? `?min_version=${wrote[id]}` : "";
  const { status, data } = await api("GET", `/orders/${encodeURIComponent(id)}${minVersion}`);
  $("#order-error").hidden = status === 200;
  if (status !== 200) {
    $("#order-error").textContent = (data && data.error) || `HTTP ${status}`;
    return;
  }
  const sync = data.sync;
  const banner = $("#sync-banner");
  banner.hidden = sync.state === "in_sync";
  banner.dataset.state = sync.state;
  $("#sync-text").textContent = sync.state === "in_sync" ? "" :
    `Syncing… this view is ${sync.versionsBehind} version(s) behind what was written ` +
    `(${sync.secondsBehind.toFixed(1)} s). It updates by itself.`;
  const view = data.view;
  $("#order-id").textContent = id;
  if (!view) {
    $("#order-status").textContent = "not in the view yet";
    $("#order-status").className = "status";
    return;
  }
  $("#order-status").textContent = view.status;
  $("#order-status").className = `status ${view.status}`;
  $("#order-customer").textContent = view.customerId || "…";
  $("#order-total").textContent = money(view.totalCents, view.currency) +
    (view.lines.length ? ` (${view.lines.map((l) => `${l.quantity} × ${l.sku}`).join(", ")})` : "");
  $("#order-stock").textContent = [view.stock.outcome || "waiting", view.stock.reason].filter(Boolean).join(": ");
  $("#order-points").textContent = view.pointsRedeemed
    ? [`${view.pointsRedeemed}: ${view.points.outcome || "waiting"}`, view.points.reason].filter(Boolean).join(": ")
    : "none";
  $("#order-payment").textContent =
    [view.payment.outcome || "waiting", view.payment.reason].filter(Boolean).join(": ");
  $("#order-flow").textContent = view.flow || "…";
  $("#cancel-button").hidden = !["PENDING", "STOCK_RESERVED"].includes(view.status);
  const body = $("#timeline tbody");
  body.replaceChildren();
  for (const entry of view.timeline) {
    const row = document.createElement("tr");
    cell(row, (entry.occurredAt || "").replace("T", " ").slice(0, 23));
    cell(row, entry.eventType);
    cell(row, `${entry.aggregateType} v${entry.version}`);
    cell(row, entry.summary);
    body.appendChild(row);
  }
}

// --- placing and cancelling ----------------------------------------------------------------

let pendingKey = null; // one Idempotency-Key per order being placed: a retried click creates one order

function formBody() {
  const lines = [...document.querySelectorAll("#lines .line")].map((line) => ({
    sku: line.querySelector(".line-sku").value.trim(),
    quantity: Number(line.querySelector(".line-qty").value),
    unitPriceCents: Number(line.querySelector(".line-price").value),
  }));
  const body = { customerId: $("#customer").value.trim(), lines, currency: $("#currency").value.trim() };
  if ($("#flow").value) body.flow = $("#flow").value;
  const points = Number($("#points").value || 0);
  if (points) body.points = points;
  return body;
}

async function placeOrder(event) {
  event.preventDefault();
  const body = formBody();
  const fingerprint = JSON.stringify(body);
  if (!pendingKey || pendingKey.fingerprint !== fingerprint) {
    pendingKey = { key: crypto.randomUUID(), fingerprint };
  }
  $("#place-button").disabled = true;
  try {
    const { status, data } = await api("POST", "/orders", body, { "Idempotency-Key": pendingKey.key });
    $("#place-error").hidden = status === 201;
    if (status !== 201) {
      $("#place-error").textContent = (data && data.error) || `HTTP ${status}`;
      return;
    }
    pendingKey = null;
    remember(data.id, data.version);
    location.hash = `#/orders/${data.id}`;
  } catch (error) {
    $("#place-error").hidden = false;
    $("#place-error").textContent = `The API did not answer (${error}); placing again is safe.`;
  } finally {
    $("#place-button").disabled = false;
  }
}

async function cancelOrder() {
  const id = location.hash.split("/")[2];
  const { status, data } = await api("POST", `/orders/${encodeURIComponent(id)}/cancel`, {});
  if (status === 200) {
    remember(id, data.version);
  } else {
    $("#order-error").hidden = false;
    $("#order-error").textContent = (data && data.error) || `HTTP ${status}`;
  }
  refreshOrder(id);
}

function addLine() {
  const first = document.querySelector("#lines .line");
  const line = first.cloneNode(true);
  line.querySelectorAll("input").forEach((input) => { input.value = ""; });
  $("#lines").appendChild(line);
}

// --- routing --------------------------------------------------------------------------------

function route() {
  clearInterval(timer);
  const match = location.hash.match(/^#\/orders\/([^/]+)$/);
  if (match) {
    const id = decodeURIComponent(match[1]);
    show("order");
    $("#timeline tbody").replaceChildren();
    refreshOrder(id);
    timer = setInterval(() => refreshOrder(id), 1000);
  } else {
    show("home");
    refreshList();
    timer = setInterval(refreshList, 2000);
  }
}

$("#place-form").addEventListener("submit", placeOrder);
$("#add-line").addEventListener("click", addLine);
$("#cancel-button").addEventListener("click", cancelOrder);
$("#status-filter").addEventListener("change", refreshList);
window.addEventListener("hashchange", route);
route();
