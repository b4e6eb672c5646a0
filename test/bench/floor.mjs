// The floor for the dispatch hop: what a Postgres job queue of graphile-worker's kind does
// on the same database, machine and fake Kubernetes API, with nothing of Facteur in it. A
// POST /jobs/<ideaId> commits one job row and a NOTIFY in one statement and answers 202; a
// worker LISTENing on its own connection is woken, takes the job (UPDATE … WHERE started_at
// IS NULL, as a worker claims it), and creates a minimal Workflow for it. Started by
// test/bench/dispatch.ts; never part of the product.
import { createServer, request, Agent } from 'node:http';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.DATABASE_POOL_SIZE ?? 10), onnotice: () => {} });
const listener = postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} });
const kube = new URL(process.env.FLOOR_KUBE_URL);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

await sql`create table if not exists bench_floor (id bigserial primary key, idea text not null, started_at timestamptz)`;

function createWorkflow(idea, id) {
  const body = JSON.stringify({
    apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow',
    metadata: { name: `floor-${id}`, annotations: { 'facteur.dev/idea-id': idea } },
    spec: { entrypoint: 'main', templates: [{ name: 'main', container: { name: 'main', image: 'busybox', command: ['true'] } }] },
  });
  return new Promise((resolve, reject) => {
    const req = request({
      agent, host: kube.hostname, port: kube.port, method: 'POST', path: '/apis/argoproj.io/v1alpha1/namespaces/argo/workflows',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`the create answered ${res.statusCode}: ${text.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

await listener.listen('bench_floor', (payload) => {
  void (async () => {
    const [job] = await sql`update bench_floor set started_at = now() where id = ${payload} and started_at is null returning id, idea`;
    if (job) await createWorkflow(job.idea, job.id);
  })().catch((err) => console.error('floor worker:', err.message));
});

const server = createServer((req, res) => {
  const m = /^\/jobs\/([^/]+)$/.exec(req.url ?? '');
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') return void res.writeHead(200).end('ok');
    if (req.method !== 'POST' || !m) return void res.writeHead(404).end();
    sql`with job as (insert into bench_floor (idea) values (${m[1]}) returning id) select pg_notify('bench_floor', id::text) from job`
      .then(() => res.writeHead(202).end(), (err) => res.writeHead(503).end(err.message));
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => Promise.all([sql.end(), listener.end()]).then(() => process.exit(0))));
