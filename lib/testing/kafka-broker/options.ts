/**
 * The options of `KafkaTestBroker`, one zod schema for the validator, the TypeScript type and the
 * table in `docs/testing/kafka-broker.md`.
 */
import { z } from 'zod'
import { isLogger, type Logger } from '../../logger.js'
import { boolean, integer, type OptionsInput, type ResolvedOptions } from '../../options.js'

const MAX_TIMER_MS = 2 ** 31 - 1

/** Schema of the options of `KafkaTestBroker`. */
export const kafkaTestBrokerOptionsSchema = z.strictObject({
  host: z
    .string({ error: 'must be a non-empty string' })
    .min(1, { error: 'must be a non-empty string' })
    .default('127.0.0.1')
    .meta({ description: 'Address to listen on, and the one Metadata advertises to clients.' }),
  port: integer(0, { max: 65535 })
    .default(0)
    .meta({ description: 'Port to listen on; 0 lets the system pick a free one.' }),
  defaultPartitions: integer(1)
    .default(1)
    .meta({ description: 'Partitions of auto-created topics and of CreateTopics with −1 partitions.' }),
  autoCreateTopics: boolean()
    .default(true)
    .meta({ description: 'Create unknown topics asked for in Metadata, as Kafka does by default.' }),
  initialRebalanceDelayMs: integer(0, { max: MAX_TIMER_MS })
    .default(0)
    .meta({ description: 'How long the first join of an empty group waits for more members (Kafka: 3000).' }),
  topics: z
    .record(
      z
        .string()
        .regex(/^[a-zA-Z0-9._-]{1,249}$/, { error: 'must be topic names ([a-zA-Z0-9._-], 1 to 249)' }),
      integer(1),
    )
    .optional()
    .meta({ description: 'Topics to create at construction: name → number of partitions.' }),
  logger: z.custom<Logger>(isLogger, { error: 'must be a pino logger' }).optional().meta({
    description: 'A pino logger (requests at `trace`, groups at `debug`).',
    default: 'pino at `warn` to stderr',
  }),
})

/** Options of `KafkaTestBroker`, as passed. */
export type KafkaTestBrokerOptions = OptionsInput<typeof kafkaTestBrokerOptionsSchema>
/** Options of `KafkaTestBroker`, validated and defaulted. */
export type ResolvedKafkaTestBrokerOptions = ResolvedOptions<typeof kafkaTestBrokerOptionsSchema>
