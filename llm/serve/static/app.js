// The chat page of `llm serve`: sends the conversation to /v1/chat/completions (or the text to
// /v1/completions) with stream=true and logprobs, shows the reply token by token, the speed,
// and on hover each token's top alternatives with their probabilities.
"use strict";

const $ = (id) => document.getElementById(id);
const conversation = $("conversation");
const history = [];          // {role, content} of the finished exchanges
let busy = false;

for (const id of ["temperature", "top-k", "top-p", "max-tokens"]) {
  const input = $(id), shown = $(id + "-value");
  input.addEventListener("input", () => { shown.textContent = input.value; });
}
$("api-key").value = localStorage.getItem("llm-api-key") || "";
$("api-key").addEventListener("change", () => localStorage.setItem("llm-api-key", $("api-key").value));

fetch("/health").then((r) => r.json()).then((health) => {
  $("model").textContent = `${health.model} · context ${health.context_length} tokens`;
  $("max-tokens").max = health.context_length;
  if (!health.chat) {
    $("mode").value = "completion";
    $("mode").querySelector("option[value=chat]").disabled = true;
  }
});

$("new-chat").addEventListener("click", () => {
  history.length = 0;
  conversation.replaceChildren();
  $("stats").textContent = "";
});

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value;
  if (busy || !text.trim()) return;
  $("message").value = "";
  send(text);
});

function addTurn(role, text) {
  const div = document.createElement("div");
  div.className = `turn ${role}`;
  div.textContent = text;
  conversation.appendChild(div);
  conversation.scrollTop = conversation.scrollHeight;
  return div;
}

function requestBody(text) {
  const topK = Number($("top-k").value);
  const body = {
    model: "default", stream: true, temperature: Number($("temperature").value),
    top_p: Number($("top-p").value), max_tokens: Number($("max-tokens").value),
  };
  if (topK > 0) body.top_k = topK;
  if ($("mode").value === "completion") {
    return ["/v1/completions", { ...body, prompt: text, logprobs: 5 }];
  }
  const system = $("system").value.trim();
  const messages = (system ? [{ role: "system", content: system }] : [])
    .concat(history, [{ role: "user", content: text }]);
  return ["/v1/chat/completions", { ...body, messages, logprobs: true, top_logprobs: 5 }];
}

// The tokens of a chunk as [{token, logprob, top: [{token, logprob}]}], chat or completion.
function chunkTokens(choice) {
  const logprobs = choice.logprobs;
  if (!logprobs) return [];
  if (logprobs.content) {
    return logprobs.content.map((t) => ({ token: t.token, logprob: t.logprob, top: t.top_logprobs }));
  }
  return logprobs.tokens.map((token, i) => ({
    token, logprob: logprobs.token_logprobs[i],
    top: Object.entries(logprobs.top_logprobs[i]).map(([t, lp]) => ({ token: t, logprob: lp })),
  }));
}

async function send(text) {
  busy = true;
  $("send").disabled = true;
  const chat = $("mode").value === "chat";
  addTurn("user", text);
  const reply = addTurn("assistant", "");
  if (!chat) reply.textContent = text;
  const [url, body] = requestBody(text);
  const headers = { "Content-Type": "application/json" };
  if ($("api-key").value) headers.Authorization = `Bearer ${$("api-key").value}`;
  const started = performance.now();
  let firstAt = null, tokens = 0, content = "", note = "";
  try {
    let response;
    for (;;) {
      response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
      if (response.ok) break;
      const error = await response.json().catch(() => ({ error: { message: response.statusText } }));
      // the context is full: the reply gets the room left, then the oldest exchanges go
      if (error.error.code === "context_length_exceeded" && body.max_tokens !== undefined) {
        delete body.max_tokens;
        note = " · max tokens cut to the room left in the context";
      } else if (error.error.code === "context_length_exceeded" && body.messages &&
                 history.length >= 2) {
        const first = body.messages.findIndex((m) => m.role !== "system");
        body.messages.splice(first, 2);
        history.splice(0, 2);
        note = " · the oldest exchanges were dropped to fit the context";
      } else {
        throw new Error(`${response.status}: ${error.error.message}`);
      }
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 2);
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        const chunk = JSON.parse(line.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices[0];
        if (!choice) continue;
        const piece = chat ? (choice.delta.content || "") : choice.text;
        const pieceTokens = chunkTokens(choice);
        if (piece) {
          const span = document.createElement("span");
          span.className = "token";
          span.textContent = piece;
          span.tokens = pieceTokens;
          reply.appendChild(span);
          content += piece;
          conversation.scrollTop = conversation.scrollHeight;
        }
        if (pieceTokens.length) {
          tokens += pieceTokens.length;
          firstAt = firstAt ?? performance.now();
        }
        const seconds = (performance.now() - started) / 1000;
        const rate = tokens > 1 ? (tokens - 1) / ((performance.now() - firstAt) / 1000) : 0;
        $("stats").textContent = `${tokens} tokens · ${rate.toFixed(1)} tokens/s · ` +
          `first token after ${((firstAt - started) || 0).toFixed(0)} ms · ${seconds.toFixed(1)} s` +
          (choice.finish_reason ? ` · finished: ${choice.finish_reason}` : "") + note;
      }
    }
    if (chat) history.push({ role: "user", content: text }, { role: "assistant", content });
  } catch (error) {
    reply.remove();
    addTurn("error", String(error.message || error));
  } finally {
    busy = false;
    $("send").disabled = false;
    $("message").focus();
  }
}

// The tooltip: a hovered token's alternatives, the chosen one highlighted.
const tooltip = $("tooltip");
const shown = (token) => JSON.stringify(token).slice(1, -1);
conversation.addEventListener("mouseover", (event) => {
  const span = event.target.closest(".token");
  if (!span || !span.tokens || !span.tokens.length) return;
  const table = document.createElement("table");
  for (const t of span.tokens) {
    // the likeliest tokens, and the drawn one below them when sampling went further down
    const alternatives = t.top.some((alt) => alt.token === t.token) ? t.top
      : t.top.concat([{ token: t.token, logprob: t.logprob }]);
    for (const alt of alternatives) {
      const row = table.insertRow();
      if (alt.token === t.token) row.className = "chosen";
      row.insertCell().textContent = `"${shown(alt.token)}"`;
      row.insertCell().textContent = `${(100 * Math.exp(alt.logprob)).toFixed(1)}%`;
    }
  }
  tooltip.replaceChildren(table);
  tooltip.hidden = false;
  const box = span.getBoundingClientRect();
  tooltip.style.left = `${box.left}px`;
  tooltip.style.top = `${box.bottom + 4}px`;
});
conversation.addEventListener("mouseout", (event) => {
  if (event.target.closest(".token")) tooltip.hidden = true;
});
