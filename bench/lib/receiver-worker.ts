import http from 'node:http';
import { parentPort } from 'node:worker_threads';
import { monotonicMs } from './clock';

/**
 * The benchmark's webhook receivers, on their own thread so the load generator's work never delays a
 * receive timestamp. Every request to /r/<scenario>/<endpoint> is answered 200 at once; the time its
 * headers arrived (the first byte of the delivery, to within microseconds) is recorded with the event's
 * sequence number and send time read from the body's `data`.
 */
interface Store {
  /** Flat records: seq, endpoint, send time (ms, monotonic), receive time (ms, monotonic). */
  records: number[];
  unparsable: number;
}

const stores = new Map<string, Store>();
const storeFor = (scenario: string): Store => {
  let store = stores.get(scenario);
  if (!store) stores.set(scenario, (store = { records: [], unparsable: 0 }));
  return store;
};

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const receivedAt = monotonicMs();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
  const match = /^\/r\/([\w-]+)\/(\d+)/.exec(req.url ?? '');
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const store = storeFor(match?.[1] ?? 'unknown');
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { seq?: unknown; sentAt?: unknown } };
      const seq = body.data?.seq;
      const sentAt = body.data?.sentAt;
      if (!match || typeof seq !== 'number' || typeof sentAt !== 'number') throw new Error('not a benchmark delivery');
      store.records.push(seq, Number(match[2]), sentAt, receivedAt);
    } catch {
      store.unparsable++;
    }
  });
});
server.maxRequestsPerSocket = 0;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  parentPort?.postMessage({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});

parentPort?.on('message', (message: { type: string; scenario?: string; id?: number }) => {
  if (message.type === 'collect' && message.scenario) {
    const store = storeFor(message.scenario);
    const records = Float64Array.from(store.records);
    parentPort?.postMessage({ type: 'collected', id: message.id, records, unparsable: store.unparsable }, [records.buffer]);
  } else if (message.type === 'count' && message.scenario) {
    parentPort?.postMessage({ type: 'counted', id: message.id, count: storeFor(message.scenario).records.length / 4 });
  } else if (message.type === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
