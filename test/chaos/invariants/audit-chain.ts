// 0 audit-chain breaks: after a last seal, the project's own verification (shared/audit)
// recomputes every entry hash, every seal's coverage and the seals' chain.
import { sealAudit, verifyAudit } from '../../../shared/audit/index.js';
import { result, type Invariant } from './index.js';

export const auditChain: Invariant = {
  name: 'audit_chain_breaks',
  description: 'the audit log verifies: no entry altered, removed or slipped into a sealed range; the seals chain',
  async check(_h, db) {
    await sealAudit(db);
    const v = await verifyAudit(db);
    return result('audit_chain_breaks', v.problems, `${v.entries} entries, ${v.sealedEntries} sealed in ${v.seals} seals`);
  },
};
