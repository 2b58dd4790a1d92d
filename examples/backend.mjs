// Demo backend: a tiny HTTP API with a health check. Listens on $PORT (default 8001).
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8001);
const started = new Date().toISOString();

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, pid: process.pid, started }));
  } else if (req.url === '/api/photos') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify([
        { id: 1, title: 'Sunrise' },
        { id: 2, title: 'Harbour' },
      ]),
    );
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`backend listening on http://127.0.0.1:${port} (pid ${process.pid})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    console.log(`backend got ${signal}, closing`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
