// A small Express app behind sluice in tests/express.rs. Node's defaults matter here:
// keepAliveTimeout is 5 s, which is what sluice's upstream pool must cope with.
"use strict";
const express = require("express");

const app = express();

app.get("/fast", (req, res) => {
  res.type("text").send("fast");
});

// What Node's own parser saw: every raw header line, in order.
app.all("/headers", (req, res) => {
  const lines = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    lines.push(`${req.rawHeaders[i].toLowerCase()}: ${req.rawHeaders[i + 1]}`);
  }
  let body = 0;
  req.on("data", (chunk) => (body += chunk.length));
  req.on("end", () => res.json({ method: req.method, url: req.url, lines, body }));
});

// Server-sent events: n events, interval ms apart, then the end.
app.get("/sse", (req, res) => {
  const n = Number(req.query.n || 3);
  const interval = Number(req.query.interval || 20);
  res.set({ "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  res.flushHeaders();
  let sent = 0;
  const timer = setInterval(() => {
    res.write(`data: ${sent}\n\n`);
    sent += 1;
    if (sent === n) {
      clearInterval(timer);
      res.end();
    }
  }, interval);
  req.on("close", () => clearInterval(timer));
});

const server = app.listen(0, "127.0.0.1", () => {
  // The test reads this line to learn the port.
  console.log(JSON.stringify({ port: server.address().port }));
});
server.keepAliveTimeout = 5000; // Node's default, stated.

// The test closes our stdin when it is done: exit then, so nothing outlives it.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
