// The repository's own `.facteur/policy.yml`, as the planning run reported it: a file that
// does not validate, or loosenings the pack does not allow (the chain's `refused`), are
// findings at `plan` — the file is then ignored or partly ignored, and a person should know.
// Judged as a warning (strict mode enforces it; an approval acknowledges it).
import type { Verdict } from '../findings.js';
import type { RuleContext } from './context.js';

export const REPO_LOCAL_RULE = { mode: 'warn', severity: 'medium' } as const;

export function repoLocalVerdicts(ctx: RuleContext): Verdict[] {
  const file = ctx.repoLocal;
  if (!file) return [];
  if (file.error) {
    return [{
      rule: 'repoLocal', outcome: 'fail', approvable: true,
      properties: { path: file.path, digest: file.digest, issues: file.error.issues.slice(0, 50) },
      message: `${file.path} is not a valid policy file and is ignored: ${file.error.issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`).join('; ') || file.error.message}`,
      suggestedFix: `fix ${file.path} (every problem is listed in properties.issues)`,
    }];
  }
  const link = ctx.policy.chain.find((l) => l.source === 'repo-local');
  if (!link) {
    return [{ rule: 'repoLocal', outcome: 'skip', properties: { path: file.path, digest: file.digest }, message: `${file.path} is present but this repository's policy does not honour it` }];
  }
  const refused = link.refused ?? [];
  return [refused.length === 0
    ? { rule: 'repoLocal', outcome: 'pass', properties: { path: file.path, digest: file.digest, applied: link.applied ?? [] }, message: `${file.path} applied (${(link.applied ?? []).length} field(s))` }
    : {
      rule: 'repoLocal', outcome: 'fail', approvable: true, properties: { path: file.path, digest: file.digest, applied: link.applied ?? [], refused },
      message: `${file.path} tried to loosen what the pack does not allow, refused: ${refused.map((r) => r.path).join(', ')}`,
      suggestedFix: 'remove the refused fields, or ask the pack\'s owners to list them as overridable',
    }];
}
