/**
 * The options the Kafka source and sink share: which client (one given, or one made from a kafkajs
 * config), and the logger. Spread into each schema; `oneClient` is its cross-field rule.
 */
import type { KafkaConfig } from 'kafkajs'
import { z } from 'zod'
import { isLogger, type Logger } from '../../lib/logger.js'
import type { KafkaClientLike } from './client.js'

/** The fields, for a client used to make a `consumer` (the source) or a `producer` (the sink). */
export function kafkaClientOptionFields(method: 'consumer' | 'producer') {
  return {
    client: z
      .custom<KafkaClientLike>(
        (v) =>
          typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function',
        {
          error: `must be a Kafka client (an object with a \`${method}(config)\` method, like kafkajs’ \`Kafka\`)`,
        },
      )
      .optional()
      .meta({
        description:
          'A kafkajs `Kafka` instance, or any client with its shape (e.g. `@confluentinc/kafka-javascript`’s KafkaJS API).',
        default: 'one made from `kafka`',
      }),
    kafka: z
      .custom<KafkaConfig>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          (Array.isArray((v as KafkaConfig).brokers) || typeof (v as KafkaConfig).brokers === 'function'),
        { error: 'must be a kafkajs client config with `brokers`' },
      )
      .optional()
      .meta({
        description:
          'kafkajs `KafkaConfig` (brokers, clientId, ssl, sasl…) for the client made when `client` is not given; its logs go to `logger`.',
        // It may hold SASL credentials: an error about it keeps none of it.
        sensitive: true,
      }),
    logger: z
      .custom<Logger>((v) => isLogger(v), { error: 'must be a pino logger' })
      .optional()
      .meta({
        description: 'A pino logger (kafkajs’ own logs go to it too).',
        default: 'pino at `warn` to stderr',
      }),
  }
}

/** The rule: exactly one of `client` and `kafka`. */
export function oneClient(o: { client?: unknown; kafka?: unknown }, ctx: z.RefinementCtx): void {
  if (o.client === undefined && o.kafka === undefined)
    ctx.addIssue({ code: 'custom', path: ['kafka'], message: 'or `client` must be given', input: undefined })
  else if (o.client !== undefined && o.kafka !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['kafka'],
      message: 'must not be given with `client`',
      input: undefined,
    })
}
