export function adminUrl(): string | undefined {
  return process.env.DATABASE_URL || undefined;
}

/** The same server as `url`, another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}
