/*
 * finchat chat widget: one script tag adds a chat bubble and panel to any page.
 *
 *   <script src="https://finchat.example/static/widget.js"
 *           data-token="fc_..." data-endpoint="https://finchat.example"></script>
 *
 * data-endpoint defaults to the origin the script was loaded from; without data-token the
 * panel asks for a token and keeps it for this tab only (sessionStorage).
 *
 * Safety: every text from the model or the ledger is inserted with textContent (or as SVG
 * text nodes); nothing is ever parsed as HTML. The widget lives in a shadow root so the host
 * page's styles cannot break it and its styles cannot leak out. Nothing is fetched from
 * anywhere but the endpoint.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__finchatWidget) return;
  window.__finchatWidget = true;

  var endpoint = (script.dataset.endpoint || new URL(script.src, location.href).origin)
    .replace(/\/+$/, "");
  var title = script.dataset.title || "Finance assistant";
  var TOKEN_KEY = "finchat:token:" + endpoint;
  var CONVERSATION_KEY = "finchat:conversation:" + endpoint;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var NUMBER = /^-?\d+(\.\d+)?$/;
  var DATE = /^\d{4}-\d{2}(-\d{2})?$/;

  var state = {
    token: script.dataset.token || storage(sessionStorage, TOKEN_KEY) || "",
    conversationId: storage(localStorage, CONVERSATION_KEY),
    loaded: false,
    busy: false,
    abort: null,
  };

  // ------------------------------------------------------------------ small helpers
  function storage(store, key, value) {
    try {
      if (value === undefined) return store.getItem(key);
      if (value === null) store.removeItem(key);
      else store.setItem(key, value);
    } catch (e) {
      return null; // storage disabled: the widget still works, without memory
    }
    return null;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attributes) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    return node;
  }

  function headers(json) {
    var result = { Authorization: "Bearer " + state.token };
    if (json) result["Content-Type"] = "application/json";
    return result;
  }

  function ApiFailure(status, message) {
    this.status = status;
    this.message = message;
  }

  async function api(method, path, body) {
    var response = await fetch(endpoint + path, {
      method: method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await failure(response);
    return response.status === 204 ? null : response.json();
  }

  async function failure(response) {
    var message = "Request failed (" + response.status + ")";
    try {
      var data = await response.json();
      if (data && data.error && data.error.message) message = data.error.message;
    } catch (e) {
      /* not JSON: keep the status line */
    }
    return new ApiFailure(response.status, message);
  }

  // ------------------------------------------------------------------ the DOM
  var host = el("div", "finchat-widget-host");
  var root = host.attachShadow({ mode: "open" });
  var stylesheet = el("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = endpoint + "/static/widget.css";
  root.appendChild(stylesheet);

  var bubble = el("button", "fc-bubble");
  bubble.type = "button";
  bubble.setAttribute("aria-label", "Open " + title);
  bubble.setAttribute("aria-expanded", "false");
  bubble.setAttribute("aria-controls", "fc-panel");
  bubble.appendChild(chatIcon());

  var panel = el("section", "fc-panel");
  panel.id = "fc-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-modal", "false");
  panel.setAttribute("aria-labelledby", "fc-title");

  var header = el("header", "fc-header");
  var heading = el("h2", "fc-title", title);
  heading.id = "fc-title";
  var newButton = el("button", "fc-new", "New chat");
  newButton.type = "button";
  newButton.setAttribute("aria-label", "Start a new conversation");
  var closeButton = el("button", "fc-close", "\u00d7");
  closeButton.type = "button";
  closeButton.setAttribute("aria-label", "Close " + title);
  header.append(heading, newButton, closeButton);

  var log = el("div", "fc-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  log.tabIndex = 0;

  var form = el("form", "fc-form");
  var input = el("textarea", "fc-input");
  input.rows = 2;
  input.placeholder = "Ask about your spending, budgets, balances…";
  input.setAttribute("aria-label", "Your question (Enter to send, Shift+Enter for a new line)");
  var send = el("button", "fc-send", "Send");
  send.type = "submit";
  send.setAttribute("aria-label", "Send question");
  form.append(input, send);

  var tokenForm = el("form", "fc-token");
  tokenForm.hidden = true;
  var tokenLabel = el("label", "fc-token-label", "Paste an API token (finchat tokens create USER):");
  tokenLabel.htmlFor = "fc-token-input";
  var tokenInput = el("input", "fc-token-input");
  tokenInput.id = "fc-token-input";
  tokenInput.type = "password";
  tokenInput.autocomplete = "off";
  var tokenButton = el("button", "fc-send", "Use token");
  tokenButton.type = "submit";
  tokenForm.append(tokenLabel, tokenInput, tokenButton);

  panel.append(header, log, tokenForm, form);
  root.append(bubble, panel);
  (document.body || document.documentElement).appendChild(host);

  function chatIcon() {
    var icon = svg("svg", { viewBox: "0 0 24 24", width: 26, height: 26, "aria-hidden": "true" });
    icon.appendChild(svg("path", {
      d: "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
      fill: "currentColor",
    }));
    return icon;
  }

  // ------------------------------------------------------------------ open, close, keys
  function open() {
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    bubble.setAttribute("aria-label", "Close " + title);
    if (!state.token) return askForToken();
    if (!state.loaded) loadHistory();
    input.focus();
  }

  function close() {
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", "Open " + title);
    bubble.focus();
  }

  bubble.addEventListener("click", function () {
    if (panel.hidden) open();
    else close();
  });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question || state.busy) return;
    input.value = "";
    ask(question);
  });
  newButton.addEventListener("click", function () {
    if (state.abort) state.abort.abort();
    state.conversationId = null;
    storage(localStorage, CONVERSATION_KEY, null);
    log.replaceChildren();
    input.focus();
  });
  tokenForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = tokenInput.value.trim();
    if (!value) return;
    state.token = value;
    storage(sessionStorage, TOKEN_KEY, value);
    tokenInput.value = "";
    tokenForm.hidden = true;
    form.hidden = false;
    loadHistory();
    input.focus();
  });

  function askForToken(message) {
    state.token = "";
    storage(sessionStorage, TOKEN_KEY, null);
    form.hidden = true;
    tokenForm.hidden = false;
    if (message) notice(message, true);
    tokenInput.focus();
  }

  function notice(message, isError) {
    var line = el("p", isError ? "fc-notice fc-error" : "fc-notice", message);
    if (isError) line.setAttribute("role", "alert");
    log.appendChild(line);
    scrollDown();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function handleFailure(error) {
    if (error && error.status === 401) return askForToken(error.message);
    notice(error && error.message ? error.message : "Something went wrong.", true);
  }

  // ------------------------------------------------------------------ history
  async function loadHistory() {
    state.loaded = true;
    if (!state.conversationId) return;
    try {
      var conversation = await api("GET", "/api/conversations/" +
        encodeURIComponent(state.conversationId));
      log.replaceChildren();
      conversation.messages.forEach(function (message) {
        if (message.role === "user") addUserMessage(message.content);
        else renderStoredAnswer(message);
      });
      scrollDown();
    } catch (error) {
      if (error.status === 404) {
        state.conversationId = null;
        storage(localStorage, CONVERSATION_KEY, null);
      } else {
        state.loaded = false;
        handleFailure(error);
      }
    }
  }

  function renderStoredAnswer(message) {
    var answer = addAnswer();
    message.tools.forEach(function (tool) {
      var step = answer.step(tool.name, tool.arguments);
      if (tool.result) step.finish(tool.ok, tool.result, null);
    });
    answer.append(message.content);
    answer.complete(message.id);
  }

  // ------------------------------------------------------------------ asking
  async function ask(question) {
    state.busy = true;
    send.disabled = true;
    addUserMessage(question);
    var answer = addAnswer();
    state.abort = new AbortController();
    try {
      await ensureConversation();
      var response = await fetch(endpoint + "/api/conversations/" +
        encodeURIComponent(state.conversationId) + "/messages", {
        method: "POST",
        headers: Object.assign(headers(true), { Accept: "text/event-stream" }),
        body: JSON.stringify({ content: question }),
        signal: state.abort.signal,
      });
      if (!response.ok) throw await failure(response);
      for await (var event of sseEvents(response)) handleEvent(answer, event);
    } catch (error) {
      if (!(error && error.name === "AbortError")) {
        answer.fail(error && error.message ? error.message : "Connection lost.");
        if (error && error.status === 401) askForToken(error.message);
      }
    } finally {
      answer.settle();
      state.busy = false;
      state.abort = null;
      send.disabled = false;
    }
  }

  async function ensureConversation() {
    if (state.conversationId) return;
    var conversation = await api("POST", "/api/conversations", {});
    state.conversationId = conversation.id;
    storage(localStorage, CONVERSATION_KEY, conversation.id);
  }

  function handleEvent(answer, event) {
    var data = JSON.parse(event.data);
    if (event.event === "text") answer.append(data.delta);
    else if (event.event === "tool_started") answer.step(data.name, data.arguments, data.call_id);
    else if (event.event === "tool_finished") answer.finishStep(data);
    else if (event.event === "message_completed") answer.complete(data.message_id, data);
    else if (event.event === "error") answer.fail(data.message);
  }

  /* Server-sent events from a fetch body (EventSource cannot POST or send headers). */
  async function* sseEvents(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var held = buffer.endsWith("\r") ? "\r" : ""; // a CRLF may be split across chunks
      var text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
      var blocks = text.split("\n\n");
      buffer = blocks.pop() + held;
      for (var i = 0; i < blocks.length; i++) {
        var parsed = parseBlock(blocks[i]);
        if (parsed) yield parsed;
      }
    }
  }

  function parseBlock(block) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") return; // comments are keep-alive pings
      var colon = line.indexOf(":");
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    });
    return data.length ? { event: name, data: data.join("\n") } : null;
  }

  // ------------------------------------------------------------------ messages
  function addUserMessage(text) {
    var item = el("div", "fc-msg fc-user");
    item.appendChild(el("p", "fc-text", text));
    log.appendChild(item);
    scrollDown();
  }

  function addAnswer() {
    var item = el("div", "fc-msg fc-assistant");
    item.setAttribute("aria-busy", "true");
    var steps = el("ol", "fc-steps");
    steps.setAttribute("aria-label", "Tool steps");
    var body = el("p", "fc-text");
    var status = el("p", "fc-status", "Thinking…");
    item.append(steps, body, status);
    log.appendChild(item);
    scrollDown();
    var byCall = {};
    var settled = false;

    return {
      append: function (text) {
        if (!text) return;
        status.textContent = "";
        body.textContent += text;
        scrollDown();
      },
      step: function (name, args, callId) {
        var step = toolStep(name, args);
        steps.appendChild(step.node);
        if (callId) byCall[callId] = step;
        scrollDown();
        return step;
      },
      finishStep: function (data) {
        var step = byCall[data.call_id] || this.step(data.name, {}, data.call_id);
        step.finish(data.ok, data.result, data.duration_ms);
        scrollDown();
      },
      complete: function (messageId, data) {
        settled = true;
        status.textContent = data && data.timing
          ? "Answered in " + (data.timing.duration_ms / 1000).toFixed(1) + " s" : "";
        if (data && !body.textContent && data.content) body.textContent = data.content;
        item.setAttribute("aria-busy", "false");
        if (messageId) item.appendChild(feedback(messageId));
        scrollDown();
      },
      fail: function (message) {
        settled = true;
        status.textContent = "";
        var error = el("p", "fc-error", message);
        error.setAttribute("role", "alert");
        item.appendChild(error);
        item.setAttribute("aria-busy", "false");
      },
      settle: function () {
        if (!settled) this.fail("The answer was interrupted.");
      },
    };
  }

  function toolStep(name, args) {
    var node = el("li", "fc-step fc-running");
    var line = el("span", "fc-step-line", "Running " + name + describeArguments(args) + "…");
    node.appendChild(line);
    return {
      node: node,
      finish: function (ok, result, durationMs) {
        node.className = "fc-step " + (ok ? "fc-ok" : "fc-failed");
        var timing = durationMs === null || durationMs === undefined
          ? "" : " (" + Math.round(durationMs) + " ms)";
        line.textContent = (ok ? "\u2713 " : "\u2717 ") + name + describeArguments(args) + timing;
        node.appendChild(renderResult(result || {}));
      },
    };
  }

  function describeArguments(args) {
    if (!args || typeof args !== "object") return "";
    var parts = Object.keys(args).map(function (key) {
      var value = args[key];
      return key + "=" + (typeof value === "object" ? JSON.stringify(value) : String(value));
    });
    return parts.length ? " (" + parts.join(", ") + ")" : "";
  }

  function renderResult(result) {
    var box = el("div", "fc-result");
    if (result.error) {
      box.appendChild(el("p", "fc-error", result.error));
      return box;
    }
    if (result.summary) box.appendChild(el("p", "fc-summary", result.summary));
    var hasChart = result.chart && result.chart.bars && result.chart.bars.length;
    if (hasChart) box.appendChild(renderChart(result.chart));
    if (result.table && result.table.rows.length) {
      var table = renderTable(result.table);
      if (!hasChart) {
        box.appendChild(table);
      } else { // the chart says it at a glance; the exact table is one click away
        var details = el("details", "fc-details");
        details.append(el("summary", null, "Table (" + result.table.total_rows + " rows)"), table);
        box.appendChild(details);
      }
    }
    return box;
  }

  function renderTable(table) {
    var wrapper = el("div", "fc-table-wrap");
    var node = el("table", "fc-table");
    var head = el("thead");
    var headRow = el("tr");
    table.columns.forEach(function (column) {
      var cell = el("th", null, column);
      cell.scope = "col";
      headRow.appendChild(cell);
    });
    head.appendChild(headRow);
    var bodyRows = el("tbody");
    table.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (value) {
        var kind = NUMBER.test(value) ? "fc-num" : DATE.test(value) ? "fc-date" : null;
        tr.appendChild(el("td", kind, value));
      });
      bodyRows.appendChild(tr);
    });
    node.append(head, bodyRows);
    wrapper.appendChild(node);
    if (table.total_rows > table.rows.length) {
      wrapper.appendChild(el("p", "fc-more",
        "Showing " + table.rows.length + " of " + table.total_rows + " rows."));
    }
    return wrapper;
  }

  /* Horizontal bars as inline SVG: a label and value above each bar, an optional limit
     line (a budget), negative values drawn by magnitude in another colour. */
  function renderChart(chart) {
    var width = 300;
    var row = 30;
    var values = chart.bars.map(function (bar) { return Math.abs(parseFloat(bar.value)) || 0; });
    var limits = chart.bars.map(function (bar) { return Math.abs(parseFloat(bar.limit)) || 0; });
    var max = Math.max.apply(null, values.concat(limits, [1e-9]));
    var figure = el("figure", "fc-chart");
    var image = svg("svg", {
      viewBox: "0 0 " + width + " " + row * chart.bars.length,
      width: "100%",
      role: "img",
      "aria-label": chart.title + (chart.unit ? " (" + chart.unit + ")" : ""),
    });
    chart.bars.forEach(function (bar, index) {
      var y = index * row;
      var label = svg("text", { x: 0, y: y + 11, class: "fc-chart-label" });
      var unit = chart.unit ? " " + chart.unit : "";
      label.textContent = bar.label + " \u2014 " + bar.value + unit +
        (bar.limit ? " (budget " + bar.limit + unit + ")" : "");
      image.appendChild(label);
      image.appendChild(svg("rect", {
        x: 0, y: y + 15, height: 10, rx: 2,
        width: Math.max(1, (values[index] / max) * width),
        class: parseFloat(bar.value) < 0 ? "fc-bar fc-bar-negative" : "fc-bar",
      }));
      if (limits[index]) {
        var x = (limits[index] / max) * width;
        image.appendChild(svg("line", {
          x1: x, x2: x, y1: y + 13, y2: y + 27, class: "fc-limit",
        }));
      }
    });
    var caption = el("figcaption", "fc-chart-title", chart.title);
    figure.append(caption, image);
    return figure;
  }

  function feedback(messageId) {
    var box = el("div", "fc-feedback");
    var up = el("button", "fc-thumb", "Helpful");
    var down = el("button", "fc-thumb", "Not helpful");
    up.type = down.type = "button";
    up.setAttribute("aria-label", "Helpful answer");
    down.setAttribute("aria-label", "Not helpful");
    up.setAttribute("aria-pressed", "false");
    down.setAttribute("aria-pressed", "false");
    var comment = el("input", "fc-comment");
    comment.type = "text";
    comment.maxLength = 2000;
    comment.hidden = true;
    comment.placeholder = "Optional comment, Enter to send";
    comment.setAttribute("aria-label", "Comment on this answer");
    var thanks = el("span", "fc-thanks");
    thanks.setAttribute("role", "status");
    var rating = null;

    async function rate(value, text) {
      rating = value;
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
      try {
        await api("POST", "/api/messages/" + messageId + "/feedback",
          { rating: value, comment: text || null });
        thanks.textContent = text ? "Thanks for the comment." : "Thanks!";
        comment.hidden = Boolean(text);
        if (!text) comment.focus();
      } catch (error) {
        thanks.textContent = error.message;
      }
    }

    up.addEventListener("click", function () { rate("up"); });
    down.addEventListener("click", function () { rate("down"); });
    comment.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && comment.value.trim() && rating) {
        event.preventDefault();
        rate(rating, comment.value.trim());
      }
    });
    box.append(up, down, comment, thanks);
    return box;
  }
})();
