#!/usr/bin/env node
// In-memory Cosmos DB (SQL API) over plain HTTP on 127.0.0.1 for local runs and tests.
// Uses the package's JS API rather than its CLI because only the API offers keep-alive
// (the CLI closes every connection: ~18 ops/s instead of ~300).
// Usage: node cosmos_server.js PORT   -> prints "READY cosmos 127.0.0.1:PORT" once listening.
"use strict";

const { createHttpServer } = require("@vercel/cosmosdb-server");

const HOST = "127.0.0.1";
const port = Number.parseInt(process.argv[2] || "", 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("usage: node cosmos_server.js PORT");
  process.exit(2);
}

const server = createHttpServer({ keepAlive: true });
const sockets = new Set();
server.on("connection", (socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});
server.on("error", (err) => {
  console.error(`cosmos server failed on ${HOST}:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, HOST, () => {
  console.log(`READY cosmos ${HOST}:${server.address().port}`);
});

// Keep-alive sockets would hold close() open forever: destroy them so shutdown is prompt.
function shutdown(signal) {
  server.close(() => process.exit(0));
  for (const socket of sockets) socket.destroy();
  setTimeout(() => process.exit(0), 2000).unref();
  console.log(`cosmos server stopping (${signal})`);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
