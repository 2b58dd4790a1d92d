// Demo frontend: serves a page that shows data from the backend. Listens on $PORT
// (default 3000) and finds the backend through BACKEND_PORT, which launchguard exports.
import { createServer, get } from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const backend = `http://127.0.0.1:${process.env.BACKEND_PORT ?? 8001}`;

function fetchPhotos() {
  return new Promise((resolve) => {
    get(`${backend}/api/photos`, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    }).on('error', (error) => resolve(JSON.stringify({ error: error.message })));
  });
}

const server = createServer(async (_req, res) => {
  const photos = await fetchPhotos();
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>demo</title><h1>Photos</h1><pre>${photos}</pre>\n`);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`frontend on http://127.0.0.1:${port} (backend ${backend})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
