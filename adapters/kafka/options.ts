/**
 * The options of `kafkaSource`: one zod schema holds each option's type, default and doc; the
 * validator, the input type and the docs table (`docs/adapters/kafka.md`) all come from it.
 */
import type { ConsumerConfig } from 'kafkajs'
import { z } from 'zod'
import { integer } from '../../lib/options.js'
import { kafkaClientOptionFields, oneClient } from './client-options.js'

const nonEmpty = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' })

/** Schema of `kafkaSource`'s options; the docs table and the type come from it. */
export const kafkaSourceOptionsSchema = z
  .strictObject({
    groupId: nonEmpty.meta({
      description: 'Consumer group: processes with the same group share the partitions.',
    }),
    topics: z
      .array(z.union([nonEmpty, z.instanceof(RegExp)]), {
        error: 'must be an array of topic names or RegExps',
      })
      .min(1, { error: 'must name at least one topic' })
      .meta({
        description: 'Topics to consume: names, or patterns (RegExp) matched against the topic list.',
      }),
    fromBeginning: z.boolean({ error: 'must be a boolean' }).default(false).meta({
      description: 'Where a partition without a committed offset starts: its first record, or its end.',
    }),
    consumer: z
      .custom<Omit<ConsumerConfig, 'groupId'>>(
        (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
        {
          error: 'must be an object of kafkajs consumer options',
        },
      )
      .default({})
      .meta({
        description:
          'More kafkajs `ConsumerConfig` (sessionTimeout, rebalanceTimeout, heartbeatInterval, maxWaitTimeInMs, maxBytesPerPartition…).',
        default: '`{}`',
      }),
    partitionsConsumedConcurrently: integer(1)
      .default(1)
      .meta({ description: 'Partitions whose fetched batches are handed on at once (kafkajs’ option).' }),
    commitIntervalMs: integer(1, { max: 2 ** 31 - 1 })
      .default(1000)
      .meta({ description: 'How often the acked offsets are committed (also at a revoke and at shutdown).' }),
    revokeTimeoutMs: integer(0, { max: 2 ** 31 - 1 })
      .default(10_000)
      .meta({
        description:
          'When the source learns of a rebalance first: the longest wait for its records in flight to be acked before it commits and lets the group rebalance. Keep it below the consumer’s `rebalanceTimeout`.',
      }),
    highWaterMark: integer(1)
      .default(1024)
      .meta({ description: 'Messages buffered before fetching stops (backpressure).' }),
    ...kafkaClientOptionFields('consumer'),
  })
  .superRefine(oneClient)

/** Options of `kafkaSource` as callers pass them. */
export type KafkaSourceOptions = z.input<typeof kafkaSourceOptionsSchema>
/** Options of `kafkaSource` once validated and defaulted. */
export type ResolvedKafkaSourceOptions = Readonly<z.output<typeof kafkaSourceOptionsSchema>>
