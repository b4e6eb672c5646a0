// Runs once per `vitest run`: builds a migrated template database that every test file
// clones (CREATE DATABASE … TEMPLATE is ~20 ms, migrating from scratch is not).
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { connect, migrate } from '../../shared/db/index.js';
import { adminUrl, databaseUrl } from './urls.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const admin = adminUrl();
  if (!admin) throw new Error('DATABASE_URL is not set: run the suite with `npm test`, which starts PostgreSQL');
  const template = `facteur_tpl_${randomBytes(4).toString('hex')}`;
  const sql = connect(admin, { max: 1 });
  await sql.unsafe(`create database ${template}`);
  const tpl = connect(databaseUrl(admin, template), { max: 1 });
  await migrate(tpl);
  await tpl.end();
  project.provide('templateDatabase', template);
  return async () => {
    await sql.unsafe(`drop database if exists ${template} with (force)`);
    await sql.end();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
