// The Discord interactions endpoint of intake (`POST <intake>/discord/interactions`): verified
// by Discord's signature instead of intake's sender authentication, answered as Discord
// expects (a 200 with an interaction response, even for a person's mistakes), and `/idea`
// registered like a codex.intent Idea Spec, exactly once per interaction id. Refused requests
// (no, forged or stale signature; malformed JSON) throw, for the function to keep as dead letters.
import type { Config } from '../config/index.js';
import { NonRetriableError, NotFoundError } from '../errors/index.js';
import { json, type HttpRequest, type HttpResponse } from '../http/index.js';
import { discordPublicKey, ephemeral, parseInteraction, problemsMessage, registeredMessage, verifyInteraction } from '../sources/discord.js';
import { ideaTraceContext, preparedFromSpec, registerPrepared, type RegisterDeps } from './spec-input.js';
import { parseTraceparent } from '../telemetry/index.js';

export { DISCORD_PATH } from '../sources/discord.js';

/** What the ledger records as the topic of a Discord interaction (it came by HTTP, not Kafka). */
export const DISCORD_TOPIC = 'discord.interactions';

export type DiscordDeps = RegisterDeps & { readonly config: Pick<Config, 'topics' | 'lifecycle' | 'ideaSources' | 'maxBodyBytes'> };

export async function handleDiscordInteraction(deps: DiscordDeps, req: HttpRequest, nowS = Date.now() / 1000): Promise<HttpResponse> {
  const publicKey = deps.config.ideaSources.discordPublicKey;
  if (!publicKey) throw new NotFoundError('Discord interactions are off: set FACTEUR_DISCORD_PUBLIC_KEY');
  if (req.method !== 'POST') throw new NonRetriableError('method_not_allowed', 'POST a Discord interaction');
  const size = req.bodySize ?? req.body.length;
  if (req.bodyTruncated || size > deps.config.maxBodyBytes) throw new NonRetriableError('payload_too_large', `body is ${size} bytes; the limit is ${deps.config.maxBodyBytes}`);
  verifyInteraction(discordPublicKey(publicKey), req.headers, req.body, nowS);
  const interaction = parseInteraction(req.body);
  switch (interaction.kind) {
    case 'ping':
      return json(200, { type: 1 });
    case 'other':
      return json(200, ephemeral(interaction.message));
    case 'invalid':
      return json(200, ephemeral(problemsMessage(interaction.problems)));
    case 'idea': {
      const prepared = preparedFromSpec(interaction.spec, req.body, {
        key: `discord-interaction:${interaction.id}`, deliveryId: interaction.id, topic: DISCORD_TOPIC, ceSource: '/discord/interactions',
        ceId: interaction.id, traceContext: ideaTraceContext({ traceparent: parseTraceparent(req.headers['traceparent']) ? req.headers['traceparent'] : undefined }),
      }, deps.config.lifecycle.maxAttempts);
      const r = await registerPrepared(deps, prepared, null);
      return json(200, ephemeral(registeredMessage(r.ideaId, r.duplicate, deps.config.ideaSources.dashboardUrl)));
    }
  }
}
