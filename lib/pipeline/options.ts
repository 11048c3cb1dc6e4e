/**
 * The options of `Pipeline`, one zod schema per table (pipeline, producer, processor, batcher,
 * rate limiting): the validator, the docs tables (`docs/pipeline.md`) and the resolved, frozen
 * config come from them. A bad option fails at construction naming its path:
 * "`processors.default.concurrency` must be an integer ≥ 1, got 0".
 */
import { availableParallelism } from 'node:os'
import { Readable } from 'node:stream'
import { z } from 'zod'
import type { BatchAccumulator } from '../internal/batch-builder.js'
import { isLogger, type Logger } from '../logger.js'
import { func, integer, parseOptions } from '../options.js'
import { isProducer, type ProducerSource } from './producer.js'

const MAX_TIMER_MS = 2 ** 31 - 1

/** Schema of `producer`. */
export const producerOptionsSchema = z.strictObject({
  source: z
    .custom<ProducerSource>((v) => v instanceof Readable || typeof v === 'function' || isProducer(v), {
      error: 'must be a Readable, a producer `{ stream }`, or a factory of either',
    })
    .meta({
      description: 'A Readable of messages, a `Producer`, or a factory of either.',
      default: 'required',
    }),
  concurrency: integer(1).default(1).meta({ description: 'Producers run at once (each from the factory).' }),
  transform: func<(event: never) => unknown>()
    .optional()
    .meta({ description: 'Turns each event of the stream into a `Message` (default: wrap it).' }),
  maxRestarts: integer(0)
    .default(3)
    .meta({ description: 'Restarts of crashed producers allowed within `restartWindowMs`.' }),
  restartWindowMs: integer(1, { max: MAX_TIMER_MS })
    .default(5000)
    .meta({ description: 'The window `maxRestarts` counts restarts in.' }),
})

/** Schema of `processors.default`. */
export const processorOptionsSchema = z.strictObject({
  concurrency: integer(1)
    .default(Math.max(2, availableParallelism() * 2))
    .meta({ description: 'Processors running at once.', default: 'CPUs × 2' }),
  maxDemand: integer(1)
    .default(10)
    .meta({ description: 'Most messages a processor takes at once (one `prepareMessages` call).' }),
  partitionBy: func<(message: never) => unknown>()
    .optional()
    .meta({ description: 'Partition key of a message: one processor per key, in order.' }),
})

const accumulator = z.custom<BatchAccumulator<never>>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as BatchAccumulator<never>).init === 'function' &&
    typeof (v as BatchAccumulator<never>).step === 'function',
)

/** Schema of each `batchers.<name>`. */
export const batcherOptionsSchema = z.strictObject({
  batchSize: z
    .union([integer(1), accumulator], {
      error: 'must be an integer ≥ 1 or an accumulator `{ init, step }`',
    })
    .default(100)
    .meta({ description: 'Messages per batch, or an accumulator (e.g. `sizeLimit`) for a custom cap.' }),
  batchTimeoutMs: integer(1, { max: MAX_TIMER_MS, allowInfinity: true })
    .default(1000)
    .meta({ description: 'Time from the first message of a batch until it goes unfilled.' }),
  concurrency: integer(1).default(1).meta({ description: 'Batch processors (`handleBatch` calls) at once.' }),
  partitionBy: func<(message: never) => unknown>()
    .optional()
    .meta({ description: 'Partition key of a message: one batch processor per key, in order.' }),
})

/** Schema of `rateLimiting`. */
export const rateLimitingOptionsSchema = z.strictObject({
  allowedMessages: integer(1).meta({ description: 'Messages allowed per window.', default: 'required' }),
  intervalMs: integer(1, { max: MAX_TIMER_MS }).meta({ description: 'Window length.', default: 'required' }),
})

/** Schema of the pipeline's options. */
export const pipelineOptionsSchema = z
  .strictObject({
    name: z
      .string({ error: 'must be a non-empty string' })
      .min(1, { error: 'must be a non-empty string' })
      .meta({
        description: 'Unique among running pipelines; in every log line and event.',
        default: 'required',
      }),
    producer: producerOptionsSchema.meta({ description: 'Where messages come from.', default: 'required' }),
    processors: z
      .strictObject({ default: processorOptionsSchema.prefault({}) })
      .prefault({})
      .meta({ description: 'The processors; only `default`, as in Broadway.', default: '`{ default: {} }`' }),
    batchers: z
      .record(z.string(), batcherOptionsSchema)
      .optional()
      .meta({ description: 'Named batchers; `message.putBatcher(name)` routes to one.' }),
    partitionBy: func<(message: never) => unknown>()
      .optional()
      .meta({ description: 'Partition key for processors and batchers both.' }),
    rateLimiting: rateLimitingOptionsSchema
      .optional()
      .meta({ description: 'Messages let in per window, shared by all producers.' }),
    context: z.unknown().optional().meta({ description: 'Handed to every callback.' }),
    handleMessage: func<(...args: never[]) => unknown>().meta({
      description: '`(processor, message, context)`: handles one message.',
      default: 'required',
    }),
    prepareMessages: func<(...args: never[]) => unknown>()
      .optional()
      .meta({ description: '`(messages, context)`: before `handleMessage`, on a processor’s group.' }),
    handleBatch: func<(...args: never[]) => unknown>()
      .optional()
      .meta({ description: '`(batcher, messages, batchInfo, context)`: required with batchers.' }),
    handleFailed: func<(...args: never[]) => unknown>()
      .optional()
      .meta({ description: '`(messages, context)`: before failed messages are acked.' }),
    shutdownTimeoutMs: integer(0, { max: MAX_TIMER_MS })
      .default(30_000)
      .meta({ description: 'Most time `stop()` waits for in-flight messages.' }),
    logger: z
      .custom<Logger>(isLogger, { error: 'must be a pino logger' })
      .optional()
      .meta({ description: 'A pino logger.', default: 'pino at `warn` to stderr' }),
  })
  .superRefine((options, ctx) => {
    if (options.batchers !== undefined && Object.keys(options.batchers).length > 0) {
      if (options.handleBatch === undefined)
        ctx.addIssue({ code: 'custom', path: ['handleBatch'], message: 'is required when batchers are set' })
    }
    const source = options.producer.source
    if (typeof source !== 'function' && options.producer.concurrency > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['producer', 'concurrency'],
        message: 'must be 1 unless `producer.source` is a factory',
      })
  })

/** The pipeline's options, validated and defaulted. */
export type ResolvedPipelineOptions = z.output<typeof pipelineOptionsSchema>

/** Validates the options; the result and its plain parts are frozen. */
export function resolvePipelineOptions(input: unknown): ResolvedPipelineOptions {
  const resolved = parseOptions(pipelineOptionsSchema, input, '')
  Object.freeze(resolved.producer)
  Object.freeze(resolved.processors.default)
  Object.freeze(resolved.processors)
  if (resolved.batchers !== undefined) {
    for (const batcher of Object.values(resolved.batchers)) Object.freeze(batcher)
    Object.freeze(resolved.batchers)
  }
  if (resolved.rateLimiting !== undefined) Object.freeze(resolved.rateLimiting)
  return resolved
}
