/**
 * `KafkaSource`: a pipeline producer reading a consumer group's topics with kafkajs (or a client of
 * its shape). Each record is a `Message` whose data is its value and whose metadata says where it
 * came from; its partition's offsets are its acknowledger, and the source commits only up to the first record
 * not yet acked (`PartitionOffsets`), on an interval, when it learns of a rebalance, and at shutdown.
 *
 * Backpressure: each batch kafkajs fetched is pushed whole into the source's Readable from
 * `eachBatch`, as `MessageChunk`s of up to 256 messages (the stream's high-water mark counts chunks:
 * `highWaterMark` / 256); when that leaves the Readable over it, `eachBatch` waits for the
 * pipeline to read, sending heartbeats meanwhile, and kafkajs fetches nothing more (it fetches again
 * once `eachBatch` returns). Memory is bounded by `highWaterMark` plus one fetch (which kafkajs holds
 * anyway): the wait is once per fetched batch, not once per record.
 *
 * Rebalances: kafkajs has no "partitions revoked" callback, so the source hooks the two places it
 * can see one from:
 * - while `eachBatch` waits for room, its heartbeat answers "rebalance in progress": the source stops
 *   taking records, waits up to `revokeTimeoutMs` for the records in flight to be acked, commits, and
 *   lets kafkajs rejoin;
 * - kafkajs saw it first (`REBALANCING`, or a new `GROUP_JOIN`): the source commits what is acked at
 *   once (the group accepts commits of the old generation until this member rejoins) and fences the
 *   old generation.
 * Fenced offsets never commit again: late acks from the old generation are dropped from commits,
 * and a commit only names partitions of the current assignment. Their records are redelivered from
 * the last commit: delivery is at least once, duplicates bounded by what was in flight.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import type { EachBatchPayload, KafkaMessage } from 'kafkajs'
import { toError } from '../../lib/errors.js'
import { defaultLogger, type Logger } from '../../lib/logger.js'
import { MessageChunk } from '../../lib/message-chunk.js'
import { Message } from '../../lib/message.js'
import { parseOptions } from '../../lib/options.js'
import type { Producer } from '../../lib/pipeline/producer.js'
import { createClient, type KafkaConsumerLike } from './client.js'
import {
  kafkaSourceOptionsSchema,
  type KafkaSourceOptions,
  type ResolvedKafkaSourceOptions,
} from './options.js'
import { PartitionOffsets } from './partition-offsets.js'

/** Where a record came from: `metadata` of each message. */
export type KafkaMetadata = {
  readonly topic: string
  readonly partition: number
  /** The record's offset (a decimal string, as kafkajs gives it). */
  readonly offset: string
  readonly key: Buffer | null
  readonly headers: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>
  /** Milliseconds since the epoch, as a decimal string. */
  readonly timestamp: string
}

/** Live figures of a source, per partition of the current assignment. */
export interface KafkaPartitionStats {
  readonly topic: string
  readonly partition: number
  /** The partition's end (the next offset to be written), as of the last fetch; -1 before one. */
  readonly highWatermark: number
  /** The next offset to commit (one past the acked prefix). */
  readonly acked: number
  /** The offset last committed. */
  readonly committed: number
  /** Records not yet acked. */
  readonly inFlight: number
  /** `highWatermark - acked` (records behind the end), when the end is known. */
  readonly lag: number
}

/** Rebalance errors of kafkajs (its `isRebalancing` plus a lost membership). */
function isRebalanceError(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'UNKNOWN_MEMBER_ID'
  )
}

/** Records per `MessageChunk` pushed. */
const CHUNK = 256

const key = (topic: string, partition: number): string => `${topic}\0${String(partition)}`

/** See the module comment; made by `kafkaSource`. */
export class KafkaSource implements Producer {
  /** Messages of records, per partition in offset order: `Message<Buffer | null, KafkaMetadata>`. */
  readonly stream: Readable
  /** The validated options, frozen. */
  readonly options: ResolvedKafkaSourceOptions

  readonly #logger: Logger
  readonly #consumer: KafkaConsumerLike
  /** Count of group joins seen: offsets of an older epoch are fenced. */
  #epoch = 0
  /** The current epoch's offsets, by topic-partition. */
  #partitions = new Map<string, PartitionOffsets>()
  /** Partitions of the current assignment (`undefined` before the first join). */
  #assigned: Set<string> | undefined
  /** `eachBatch` calls waiting for the Readable to have room. */
  #waiting: (() => void)[] = []
  #started = false
  #draining = false
  #closing: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #committing: Promise<void> = Promise.resolve()
  readonly #unsubscribe: (() => void)[] = []

  constructor(options: KafkaSourceOptions) {
    const o = parseOptions(kafkaSourceOptionsSchema, options)
    this.options = o
    this.#logger = (o.logger ?? defaultLogger()).child({ source: 'kafka', groupId: o.groupId })
    const client = o.client ?? createClient(o.kafka as NonNullable<typeof o.kafka>, this.#logger)
    this.#consumer = client.consumer({ ...o.consumer, groupId: o.groupId })
    this.stream = new Readable({
      objectMode: true,
      // Counted in chunks of up to CHUNK messages.
      highWaterMark: Math.max(1, Math.round(o.highWaterMark / CHUNK)),
      read: () => {
        this.#onRead()
      },
      destroy: (error, callback) => {
        this.#wake()
        callback(error)
      },
    })
  }

  /** Figures per partition of the current assignment (for a progress line). */
  partitions(): KafkaPartitionStats[] {
    return [...this.#partitions.values()].map((p) => ({
      topic: p.topic,
      partition: p.partition,
      highWatermark: p.highWatermark,
      acked: p.next,
      committed: p.committed,
      inFlight: p.inFlight,
      lag: p.highWatermark < 0 ? -1 : Math.max(0, p.highWatermark - p.next),
    }))
  }

  /** Stops fetching (the pipeline is stopping); what the stream still holds is never acked. */
  prepareForDraining(): void {
    if (this.#draining) return
    this.#draining = true
    this.#wake()
    const topics = [...this.#partitions.values()].map((p) => ({ topic: p.topic, partitions: [p.partition] }))
    if (topics.length > 0) this.#consumer.pause(topics)
    if (!this.stream.destroyed) this.stream.push(null)
  }

  /** After the last ack: commits the acked offsets, then leaves the group and disconnects. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.prepareForDraining()
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.#commit('shutdown')
    for (const off of this.#unsubscribe) off()
    await this.#consumer.disconnect()
  }

  // ---- input ----

  #onRead(): void {
    if (!this.#started) {
      this.#started = true
      this.#start().catch((error: unknown) => {
        this.stream.destroy(toError(error))
      })
    }
    this.#wake()
  }

  #wake(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const resume of waiting) resume()
  }

  async #start(): Promise<void> {
    const o = this.options
    const consumer = this.#consumer
    const events = consumer.events
    this.#unsubscribe.push(
      consumer.on(events.GROUP_JOIN, (event) => {
        this.#joined(event.payload.memberAssignment)
      }),
      consumer.on(events.REBALANCING, () => {
        this.#revoked('kafkajs saw a rebalance')
      }),
      consumer.on(events.CRASH, (event) => {
        const { error, restart } = event.payload
        this.#logger.warn({ err: { message: error.message }, restart }, 'Kafka consumer crashed')
        if (!restart) this.stream.destroy(error)
      }),
    )
    await consumer.connect()
    await consumer.subscribe({ topics: [...o.topics], fromBeginning: o.fromBeginning })
    this.#timer = setInterval(() => {
      void this.#commit('interval')
    }, o.commitIntervalMs)
    this.#timer.unref()
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.#eachBatch(payload),
    })
  }

  /** A new generation: fence the old one; the assignment says which partitions may commit. */
  #joined(assignment: Readonly<Record<string, number[]>>): void {
    this.#fence()
    const assigned = new Set<string>()
    for (const [topic, partitions] of Object.entries(assignment))
      for (const partition of partitions) assigned.add(key(topic, partition))
    this.#assigned = assigned
    this.#logger.info({ assignment }, 'Kafka partitions assigned')
  }

  /** kafkajs is about to rejoin: commit what is acked (the old generation still may), then fence. */
  #revoked(why: string): void {
    this.#logger.info({ why }, 'Kafka group rebalancing')
    void this.#commit('rebalance')
    this.#fence()
  }

  #fence(): void {
    for (const partition of this.#partitions.values()) partition.fence()
    this.#partitions = new Map()
    this.#epoch++
  }

  /** True when this source takes no more records (stopping, or this generation is over). */
  #refusing(offsets?: PartitionOffsets): boolean {
    return this.#draining || this.stream.destroyed || offsets?.fenced === true
  }

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const batch = payload.batch
    if (this.#refusing()) return
    const { topic, partition, messages } = batch
    if (messages.length === 0) return
    const id = key(topic, partition)
    let offsets = this.#partitions.get(id)
    if (offsets === undefined) {
      offsets = new PartitionOffsets(topic, partition, this.#epoch, offsetOf(messages[0] as KafkaMessage))
      this.#partitions.set(id, offsets)
    }
    offsets.highWatermark = Number(batch.highWatermark)
    // The whole batch goes in (kafkajs holds it in memory already), then, if the stream is over its
    // high-water mark, this waits once for the pipeline to read before kafkajs fetches again.
    // Pushed in chunks (`MessageChunk`): the stream's and the intake's per-chunk cost is paid per
    // CHUNK records, not per record.
    let full = false
    let chunk: Message[] = []
    for (const record of messages) {
      const metadata: KafkaMetadata = {
        topic,
        partition,
        offset: record.offset,
        key: record.key,
        headers: record.headers ?? {},
        timestamp: record.timestamp,
      }
      const message = new Message(record.value, {
        metadata,
        acknowledger: offsets,
        ackData: offsets.track(offsetOf(record)),
      })
      if (chunk.push(message) === CHUNK) {
        full = !this.stream.push(new MessageChunk(chunk))
        chunk = []
      }
    }
    if (chunk.length > 0) full = !this.stream.push(new MessageChunk(chunk))
    if (full && !this.#refusing(offsets) && payload.isRunning()) await this.#room(payload, offsets)
  }

  /**
   * Waits until the pipeline reads again, heartbeating meanwhile. A heartbeat that says the group is
   * rebalancing is this source's revoke hook: drain (up to `revokeTimeoutMs`), commit, rethrow.
   */
  async #room(payload: EachBatchPayload, offsets: PartitionOffsets): Promise<void> {
    const every = Math.max(50, Math.min(1000, (this.options.consumer.heartbeatInterval ?? 3000) / 2))
    const stream = this.stream
    for (;;) {
      // A read while this heartbeated had no waiter to wake, and the stream asks only once until
      // the next push: look at the stream itself, or fetching stops for good.
      if (stream.readableLength < stream.readableHighWaterMark) return
      let timer: NodeJS.Timeout | undefined
      const read = await new Promise<boolean>((resolve) => {
        this.#waiting.push(() => {
          resolve(true)
        })
        timer = setTimeout(resolve, every, false)
      })
      clearTimeout(timer)
      if (read || this.#refusing(offsets)) return
      try {
        await payload.heartbeat()
      } catch (error) {
        if (isRebalanceError(error)) await this.#drainForRevoke()
        throw error
      }
    }
  }

  /** The revoke hook: stop taking records, wait for those in flight, commit, fence. */
  async #drainForRevoke(): Promise<void> {
    const partitions = [...this.#partitions.values()]
    this.#logger.info(
      { inFlight: partitions.reduce((n, p) => n + p.inFlight, 0) },
      'Kafka group rebalancing: draining',
    )
    const deadline = Date.now() + this.options.revokeTimeoutMs
    while (partitions.some((p) => p.inFlight > 0) && Date.now() < deadline && !this.stream.destroyed)
      await sleep(Math.min(25, Math.max(1, deadline - Date.now())))
    await this.#commit('revoke')
    this.#fence()
  }

  // ---- commits ----

  /** Commits the acked offsets of the current assignment, one commit at a time. */
  #commit(why: string): Promise<void> {
    const offsets: { topic: string; partition: number; offset: string }[] = []
    const taken: [PartitionOffsets, number][] = []
    for (const [id, partition] of this.#partitions) {
      if (this.#assigned !== undefined && !this.#assigned.has(id)) continue
      const offset = partition.takeCommit()
      if (offset === undefined) continue
      offsets.push({ topic: partition.topic, partition: partition.partition, offset: String(offset) })
      taken.push([partition, offset])
    }
    if (offsets.length === 0) return this.#committing
    const previous = this.#committing
    this.#committing = (async () => {
      await previous
      try {
        await this.#consumer.commitOffsets(offsets)
        this.#logger.debug({ why, offsets }, 'Kafka offsets committed')
      } catch (error) {
        for (const [partition, offset] of taken) partition.commitFailed(offset)
        const level = isRebalanceError(error) ? 'debug' : 'warn'
        this.#logger[level]({ why, err: { message: toError(error).message } }, 'Kafka offset commit failed')
      }
    })()
    return this.#committing
  }
}

/** A record's offset as a number (offsets stay far below 2^53 in practice; checked). */
function offsetOf(record: KafkaMessage): number {
  const n = Number(record.offset)
  if (!Number.isSafeInteger(n)) throw new RangeError(`Kafka offset ${record.offset} is beyond 2^53`)
  return n
}

/**
 * A consumer group's topics as a pipeline producer: one message per record, data = its value,
 * metadata `{ topic, partition, offset, key, headers, timestamp }`. Offsets are committed only up
 * to the first record not acked. See `docs/adapters/kafka.md`.
 * @example
 * const source = kafkaSource({ kafka: { brokers: ['localhost:9092'] }, groupId: 'g', topics: ['orders'] })
 * const p = new Pipeline({ name: 'forward', producer: { source }, handleMessage, … })
 */
export function kafkaSource(options: KafkaSourceOptions): KafkaSource {
  return new KafkaSource(options)
}
