import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, Secret } from '../../shared/config/index.js';
import { ValidationError } from '../../shared/errors/index.js';

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('.facteur');
    expect(c.poolSize).toBe(10);
    expect(c.maxBodyBytes).toBe(1024 * 1024);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.topics.intent).toBe('codex.intent');
    expect(c.kafka).toBeUndefined();
    expect(Object.isFrozen(c) && Object.isFrozen(c.topics)).toBe(true);
  });

  it('lists every bad variable at once', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_POOL_SIZE: '0', KAFKA_BROKERS: 'nohost', FACTEUR_LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const paths = (err as ValidationError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['DATABASE_POOL_SIZE', 'FACTEUR_LOG_LEVEL', 'KAFKA_BROKERS', 'PORT']);
    expect((err as Error).message).toMatch(/PORT: /);
  });

  it('never prints a secret', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x', FACTEUR_STATUS_TOKEN: 'tok-hunter2' });
    expect(c.databaseUrl).toBeInstanceOf(Secret);
    expect(c.databaseUrl!.reveal()).toBe('postgres://u:hunter2@db/x');
    const printed = [JSON.stringify(c), String(c.statusToken), inspect(c, { depth: 5 }), `${c.databaseUrl}`].join('\n');
    expect(printed).not.toContain('hunter2');
    expect(printed).toContain('[secret]');
  });

  it('reports unknown FACTEUR_ variables (likely typos)', () => {
    const c = loadConfig({ FACTEUR_STATUS_TOKN: 'x', HOME: '/root' });
    expect(c.unknownKeys).toEqual(['FACTEUR_STATUS_TOKN']);
  });

  it('parses brokers and booleans', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:9092,b:9093', FACTEUR_RUN_MIGRATIONS: 'false' });
    expect(c.kafka?.brokers).toEqual(['a:9092', 'b:9093']);
    expect(c.runMigrations).toBe(false);
  });
});
