#!/usr/bin/env node
// `npm run demo`: posts an Idea Spec to a running local Facteur (`npm start`) the way
// KafkaSource would, then follows the idea through its life until it ends.
// FACTEUR_URL (default http://127.0.0.1:8080); FACTEUR_STATUS_TOKEN / FACTEUR_INTAKE_TOKEN if set.
const base = (process.env.FACTEUR_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const auth = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
const spec = {
  id: `demo-${Date.now()}`,
  title: process.argv[2] ?? 'Add dark mode',
  goal: 'Users can switch the dashboard to a dark theme that persists across sessions.',
  successMetrics: ['the theme toggle persists across reloads'],
  acceptanceCriteria: ['contrast ratio ≥ 4.5 in both themes'],
  repository: 'acme/web',
  priority: 'high',
};
const res = await fetch(`${base}/intake`, {
  method: 'POST',
  headers: {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event', 'ce-id': `demo/${spec.id}`,
    'ce-source': '/apis/v1/namespaces/facteur/kafkasources/facteur-intake#codex.intent',
    'content-type': 'application/json', ...auth(process.env.FACTEUR_INTAKE_TOKEN),
  },
  body: JSON.stringify(spec),
}).catch((err: Error) => {
  process.stderr.write(`cannot reach ${base} (${err.message}); start Facteur with \`npm start\` first\n`);
  process.exit(1);
});
const accepted = (await res.json()) as { ideaId?: string; error?: unknown };
if (!accepted.ideaId) {
  process.stderr.write(`intake answered ${res.status}: ${JSON.stringify(accepted)}\n`);
  process.exit(1);
}
process.stdout.write(`idea ${accepted.ideaId} registered; following it (${base}/status/v1/ideas/${accepted.ideaId})\n`);
const seen = new Set<string>();
const started = Date.now();
for (;;) {
  const detail = (await (await fetch(`${base}/status/v1/ideas/${accepted.ideaId}`, { headers: auth(process.env.FACTEUR_STATUS_TOKEN) })).json()) as {
    idea: { status: string; statusReason: string | null };
    tasks: { key: string; stage: string; state: string }[];
  };
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  const line = `idea ${detail.idea.status}${detail.idea.statusReason ? ` (${detail.idea.statusReason})` : ''}`;
  if (!seen.has(line)) process.stdout.write(`${t}s  ${line}\n`);
  seen.add(line);
  for (const task of detail.tasks) {
    const l = `  ${task.stage.padEnd(14)} ${task.key.padEnd(28)} ${task.state}`;
    if (!seen.has(l)) process.stdout.write(`${t}s${l}\n`);
    seen.add(l);
  }
  if (['completed', 'blocked', 'cancelled', 'failed'].includes(detail.idea.status)) break;
  await new Promise((r) => setTimeout(r, 300));
}
