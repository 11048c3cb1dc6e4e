/**
 * `kafkaSink`: produces each batch of messages to a Kafka topic with one `producer.send` (kafkajs,
 * or a client of its shape), `acks: -1` (all in-sync replicas) by default, so a batch is acked
 * only once Kafka holds it. The client retries transient faults itself (its `retry` options); a
 * send that still fails fails the batch's messages with its error, for `handleFailed`.
 *
 * Buffer bound: a batch is held while it is sent; `writable()` holds at most its `highWaterMark`
 * items, sent as one batch.
 */
import kafkajs from 'kafkajs'
import type { CompressionTypes, IHeaders, KafkaConfig, ProducerConfig } from 'kafkajs'
import type { Writable } from 'node:stream'
import { z } from 'zod'
import { describeValue, toError } from '../../lib/errors.js'
import { batchMessages, sinkWritable } from '../../lib/internal/sink.js'
import { defaultLogger } from '../../lib/logger.js'
import type { Message } from '../../lib/message.js'
import { func, integer, parseOptions, type ResolvedOptions } from '../../lib/options.js'
import { createClient, type KafkaClientLike, type KafkaProducerLike } from './client.js'
import { kafkaClientOptionFields, oneClient } from './client-options.js'

/** A record as the sink sends it (kafkajs' `Message`). */
export interface KafkaRecord {
  key?: Buffer | string | null
  value: Buffer | string | null
  partition?: number
  headers?: IHeaders
  timestamp?: string
}

/** Schema of `kafkaSink`'s options; the docs table and the type come from it. */
export const kafkaSinkOptionsSchema = z
  .strictObject({
    topic: z
      .string({ error: 'must be a non-empty string' })
      .min(1, { error: 'must be a non-empty string' })
      .meta({ description: 'The topic the records go to.' }),
    toRecord: func<(message: Message<never>) => KafkaRecord>().optional().meta({
      description:
        'Maps a message to its record `{ key, value, partition, headers }`; a Buffer, string or null `data` is the value as it is, anything else its JSON.',
      default: '`{ value: data }`',
    }),
    acks: z
      .union([z.literal(-1), z.literal(0), z.literal(1)], { error: 'must be -1 (all), 0 or 1' })
      .default(-1)
      .meta({
        description:
          'Replicas that must have a batch before it counts as sent: -1 all in-sync, 1 the leader, 0 none.',
      }),
    timeoutMs: integer(1).default(30_000).meta({ description: 'How long the broker may wait for the acks.' }),
    compression: z
      .enum(['none', 'gzip'], { error: "must be 'none' or 'gzip'" })
      .default('none')
      .meta({ description: 'Compression of the batches (kafkajs ships gzip; other codecs need a plugin).' }),
    producer: z
      .custom<ProducerConfig>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
        error: 'must be an object of kafkajs producer options',
      })
      .default({})
      .meta({
        description: 'More kafkajs `ProducerConfig` (createPartitioner, idempotent, retry…).',
        default: '`{}`',
      }),
    writableHighWaterMark: integer(1)
      .default(1000)
      .meta({ description: 'Items `writable()` buffers; what is buffered is sent as one batch.' }),
    ...kafkaClientOptionFields('producer'),
  })
  .superRefine(oneClient)

/** Options of `kafkaSink`. */
export type KafkaSinkOptions = Omit<z.input<typeof kafkaSinkOptionsSchema>, 'toRecord'> & {
  toRecord?: (message: Message<never>) => KafkaRecord
}

/** What `kafkaSink` returns. */
export interface KafkaSink {
  /** Sends the messages as one batch and resolves with them; a failed send marks them failed. */
  handleBatch: {
    <T>(messages: Message<T>[]): Promise<Message<T>[]>
    <T>(batcher: string, messages: Message<T>[], ...rest: unknown[]): Promise<Message<T>[]>
  }
  /** An object-mode Writable of data (or of messages); fails with the first failed send. Ending it closes the sink. */
  writable(): Writable
  /** Disconnects the producer. */
  close(): Promise<void>
  /** Records sent, and records failed. */
  readonly stats: { readonly sent: number; readonly failed: number }
}

const compressions: Record<'none' | 'gzip', CompressionTypes> = {
  none: kafkajs.CompressionTypes.None,
  gzip: kafkajs.CompressionTypes.GZIP,
}

/** The default record of a message: its data as the value (JSON unless bytes, a string or null). */
function defaultRecord(message: Message): KafkaRecord {
  const data = message.data
  if (data === null || typeof data === 'string' || Buffer.isBuffer(data)) return { value: data }
  const json = JSON.stringify(data) as string | undefined
  if (json === undefined) throw new TypeError(`${describeValue(data)} has no JSON form`)
  return { value: json }
}

/**
 * A sink that produces each batch of messages to a Kafka topic. See `docs/adapters/kafka.md`.
 * @example
 * const sink = kafkaSink({ kafka: { brokers: ['localhost:9092'] }, topic: 'orders-clean' })
 * new Pipeline({ …, batchers: { default: { batchSize: 500 } }, handleBatch: sink.handleBatch })
 */
export function kafkaSink(options: KafkaSinkOptions): KafkaSink {
  const o: ResolvedOptions<typeof kafkaSinkOptionsSchema> = parseOptions(kafkaSinkOptionsSchema, options)
  const logger = (o.logger ?? defaultLogger()).child({ sink: 'kafka', topic: o.topic })
  const client = o.client ?? createClient(o.kafka as KafkaConfig, logger)
  const toRecord = (o.toRecord as ((message: Message) => KafkaRecord) | undefined) ?? defaultRecord
  const stats = { sent: 0, failed: 0 }
  let producer: KafkaProducerLike | undefined
  let connecting: Promise<KafkaProducerLike> | undefined
  let closed = false

  function connect(): Promise<KafkaProducerLike> {
    connecting ??= (async () => {
      const made = (client.producer as NonNullable<KafkaClientLike['producer']>)(o.producer)
      await made.connect()
      producer = made
      return made
    })()
    connecting.catch(() => {
      connecting = undefined // try again with the next batch
    })
    return connecting
  }

  async function handleBatch<T>(first: string | Message<T>[], second?: Message<T>[]): Promise<Message<T>[]> {
    const messages = batchMessages(first, second)
    if (closed) throw new Error('The Kafka sink is closed')
    const sending: Message<T>[] = []
    const records: KafkaRecord[] = []
    for (const message of messages) {
      if (message.isFailed) continue
      try {
        records.push(toRecord(message))
        sending.push(message)
      } catch (error) {
        stats.failed++
        message.failed(error)
      }
    }
    if (records.length === 0) return messages
    try {
      const p = await connect()
      await p.send({
        topic: o.topic,
        messages: records,
        acks: o.acks,
        timeout: o.timeoutMs,
        compression: compressions[o.compression],
      })
      stats.sent += records.length
    } catch (error) {
      stats.failed += sending.length
      logger.warn({ records: sending.length, err: { message: toError(error).message } }, 'Kafka send failed')
      for (const message of sending) message.failed(error)
    }
    return messages
  }

  let closing: Promise<void> | undefined
  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true
      await connecting?.catch(() => undefined)
      await producer?.disconnect()
    })()
    return closing
  }

  return {
    handleBatch,
    writable: () => sinkWritable<unknown>({ handleBatch, close, highWaterMark: o.writableHighWaterMark }),
    close,
    get stats() {
      return stats
    },
  }
}
