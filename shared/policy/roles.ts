// The roles an API principal can hold, from least to most. Its own module: the configuration
// (shared/config/api-identity.ts) needs the names at start-up, and shared/policy/pack.ts,
// which also uses them, brings the YAML parser and glob matcher every cold start would load.
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];
