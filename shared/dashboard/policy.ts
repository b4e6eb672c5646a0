// The policy page: the packs (every version, which one is active, where it came from) and,
// for each repository Facteur knows, the effective policy in force now with its hash and
// the chain it was merged from (pack → repository overrides → repo-local file).
import type { Queryable } from '../db/index.js';
import { effectivePolicyFor, listPacks, type StoredPack } from '../policy/store.js';
import type { ChainLink } from '../policy/effective.js';
import { badge, h, jsonBlock, time, type Html } from './html.js';
import { messageOf } from '../errors/index.js';

const MAX_REPOSITORIES = 50;

export interface PolicyView {
  readonly packs: readonly StoredPack[];
  readonly repositories: readonly { repository: string; hash?: string; chain?: readonly ChainLink[]; document?: unknown; error?: string }[];
}

export async function loadPolicy(sql: Queryable): Promise<PolicyView> {
  const [packs, repos] = await Promise.all([
    listPacks(sql),
    sql<{ repository: string }[]>`
      select repository from (select repository from codex_kb.repository_policies union select distinct lower(repository) from codex_kb.ideas) r
       order by repository limit ${MAX_REPOSITORIES}`,
  ]);
  const repositories = await Promise.all(repos.map(async ({ repository }) => {
    try {
      const eff = await effectivePolicyFor(sql, repository);
      return { repository, hash: eff.hash, chain: eff.chain, document: eff.document };
    } catch (err) {
      return { repository, error: messageOf(err) };
    }
  }));
  return { packs, repositories };
}

export function renderPolicy(v: PolicyView): Html {
  return h`<h1>Policy</h1>
<h2>Packs</h2>
<table><thead><tr><th>pack</th><th>version</th><th>state</th><th>origin</th><th>hash</th><th>description</th><th>created</th></tr></thead><tbody>
${v.packs.map((p) => h`<tr><td>${p.key}</td><td>${p.version}</td><td>${badge(p.status === 'active' ? 'approved' : p.status === 'draft' ? 'pending' : 'cancelled')} ${p.status}</td><td>${p.origin}</td><td><code>${p.hash.slice(0, 12)}</code></td><td>${p.description}</td><td>${time(p.createdAt)} by ${p.createdBy}</td></tr>`)}
</tbody></table>
<h2>Effective policy per repository</h2>
${v.repositories.length === 0 ? h`<p class="muted">No repository yet.</p>` : ''}
${v.repositories.map((r) => h`<details class="card" data-repository="${r.repository}"><summary><b>${r.repository}</b> ${r.hash ? h`<code>${r.hash.slice(0, 16)}</code>` : h`<span class="error">${r.error}</span>`}</summary>
${r.chain ? h`<ol class="chain">${r.chain.map((c) => h`<li>${c.source} <code>${c.ref}</code> <code>${c.hash.slice(0, 12)}</code>${c.refused?.length ? h` <span class="badge s-warn">${c.refused.length} refused</span>` : ''}</li>`)}</ol>` : ''}
${r.document ? jsonBlock(r.document, 6000) : ''}</details>`)}
${v.repositories.length === MAX_REPOSITORIES ? h`<p class="muted">The first ${MAX_REPOSITORIES} repositories.</p>` : ''}`;
}
