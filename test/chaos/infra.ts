// The real services under the harness's control, started with the same helpers (and
// the same binaries) as `npm test`: test/infra/services.mjs. That file is plain ESM so it
// runs before anything is compiled; it is loaded here by URL, with the types it has.

export interface ControlledPostgres {
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  /** Stops the server, keeping its files (`fast`: sessions terminated, data kept). */
  stopServer(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  /** Starts it again on the same port. */
  startServer(): Promise<void>;
  /** Stops it for good and removes its files. */
  stop(): void;
}

export interface ControlledBroker {
  readonly brokers: string;
  readonly pid: number;
  /** SIGSTOP: the broker stops answering, nothing it holds is lost. */
  pause(): void;
  /** SIGCONT */
  resume(): void;
  stop(): void;
}

interface ServicesModule {
  startPostgres(): Promise<ControlledPostgres>;
  startKafka(): Promise<ControlledBroker>;
}

async function services(): Promise<ServicesModule> {
  return (await import(new URL('../infra/services.mjs', import.meta.url).href)) as ServicesModule;
}

export async function startPostgres(): Promise<ControlledPostgres> {
  return (await services()).startPostgres();
}

export async function startBroker(): Promise<ControlledBroker> {
  return (await services()).startKafka();
}
