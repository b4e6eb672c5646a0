// The status API's routes, once: the function's index (`GET /`) and local mode's home page
// list them from here, so the documentation a client reads cannot drift from what is served.
export interface StatusRoute {
  readonly method: 'GET' | 'POST';
  /** Below the status function's mount point (`/status` in local mode). */
  readonly path: string;
  readonly description: string;
  /** Needs `Authorization: Bearer <FACTEUR_STATUS_TOKEN>` when the token is set. */
  readonly auth: boolean;
}

export const STATUS_ROUTES: readonly StatusRoute[] = Object.freeze([
  { method: 'GET', path: '/', description: 'this index of the status API', auth: false },
  { method: 'GET', path: '/healthz', description: 'liveness probe', auth: false },
  { method: 'GET', path: '/v1/ideas', description: 'ideas, newest first; ?status=&repository=&limit=&cursor=', auth: true },
  { method: 'GET', path: '/v1/ideas/{id}', description: 'one idea with its tasks, runs, events, findings and approvals', auth: true },
  { method: 'POST', path: '/v1/ideas/{id}/{pause|resume|cancel|retry}', description: 'operator actions; body optional {"reason":"…"}', auth: true },
  { method: 'POST', path: '/v1/approvals/{id}/{approve|reject}', description: 'decide an approval; body optional {"reason":"…"}', auth: true },
  { method: 'GET', path: '/v1/costs', description: 'cost per repository per UTC day and per stage; ?repository=&since=YYYY-MM-DD', auth: true },
  { method: 'GET', path: '/v1/runs/{id}', description: 'one run with its events and artifacts', auth: true },
  { method: 'GET', path: '/v1/dead-letters', description: 'refused deliveries, newest first; ?function=&reason=&limit=&cursor=', auth: true },
  { method: 'GET', path: '/v1/dead-letters/{id}', description: 'one refused delivery with its whole stored payload', auth: true },
]);
