/**
 * Fixtures for the Kafka test broker's tests: a started broker stopped at teardown, kafkajs clients
 * with settings that keep tests fast, kafkajs' own protocol modules (internal, loaded with
 * `createRequire`: the tests use them to check the broker against a real client's encoding), and a
 * raw TCP client that sends kafkajs-encoded requests and decodes the answers with kafkajs' decoders.
 */
import { createRequire } from 'node:module'
import { connect, type Socket } from 'node:net'
import { Kafka, logLevel, type ConsumerConfig, type KafkaConfig } from 'kafkajs'
import { KafkaTestBroker, type KafkaTestBrokerOptions } from '../../../lib/testing.js'
import { silentLogger, type Teardown } from '../../pipeline/fixtures.js'

export const require = createRequire(import.meta.url)

/** A request built by a kafkajs protocol module. */
export interface KafkajsRequest {
  apiKey: number
  apiVersion: number
  apiName: string
  encode(): Promise<{ buffer: Buffer }>
}

/** A response decoder of a kafkajs protocol module. */
export interface KafkajsResponse {
  decode(raw: Buffer): Promise<unknown>
  parse(decoded: unknown): Promise<unknown>
}

/** `kafkajs/src/protocol/requests`: the request definitions by API name. */
export interface KafkajsRequestDefinitions {
  versions: string[]
  protocol(options: {
    version: number
  }): (args: object) => { request: KafkajsRequest; response: KafkajsResponse }
}

export const kafkajsRequests = (
  require('kafkajs/src/protocol/requests') as { requests: Record<string, KafkajsRequestDefinitions> }
).requests

/** `kafkajs/src/protocol/encoder`'s `Encoder`, the methods the tests use. */
export interface KafkajsEncoder {
  writeInt8(value: number): this
  writeInt16(value: number): this
  writeInt32(value: number): this
  writeInt64(value: bigint | number | string): this
  writeString(value: string | null): this
  writeBytes(value: Buffer | null): this
  writeVarInt(value: number): this
  writeVarLong(value: bigint | number): this
  writeVarIntBytes(value: Buffer | string | null): this
  readonly buffer: Buffer
}

/** `kafkajs/src/protocol/decoder`'s `Decoder`, the methods the tests use. */
export interface KafkajsDecoder {
  readInt16(): number
  readInt32(): number
  readInt64(): bigint
  readString(): string | null
  readBytes(): Buffer | null
  readBoolean(): boolean
  readArray<T>(read: (decoder: KafkajsDecoder) => T): T[]
}

export const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (
  buffer: Buffer,
) => KafkajsDecoder

/** A record for `recordBatch`, as kafkajs' `Record` takes it. */
export interface BatchRecord {
  key?: string | Buffer | null
  value: string | Buffer | null
  headers?: Record<string, string | Buffer | (string | Buffer)[]>
  offsetDelta?: number
  timestampDelta?: number
}

const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (
  record: BatchRecord,
) => unknown
const kafkajsRecordBatch = (
  require('kafkajs/src/protocol/recordBatch/v0') as {
    RecordBatch: (batch: object) => Promise<{ buffer: Buffer }>
  }
).RecordBatch

/** A RecordBatch v2 as kafkajs encodes it (compression 1 = gzip), for the log's unit tests. */
export async function recordBatch(
  records: BatchRecord[],
  options: { compression?: number; firstTimestamp?: number; maxTimestamp?: number } = {},
): Promise<Buffer> {
  const encoded = records.map((record, i) => kafkajsRecord({ offsetDelta: i, ...record }))
  const batch = await kafkajsRecordBatch({
    records: encoded,
    lastOffsetDelta: records.length - 1,
    firstTimestamp: options.firstTimestamp ?? 1000,
    maxTimestamp:
      options.maxTimestamp ??
      (options.firstTimestamp ?? 1000) + Math.max(0, ...records.map((r) => r.timestampDelta ?? 0)),
    compression: options.compression ?? 0,
  })
  return batch.buffer
}

export const KafkajsEncoder = require('kafkajs/src/protocol/encoder') as new () => KafkajsEncoder

/** A request of `apiKey` at `apiVersion` whose body `write` writes (for what kafkajs never sends). */
export function customRequest(
  apiKey: number,
  apiVersion: number,
  write: (encoder: KafkajsEncoder) => unknown,
): KafkajsRequest {
  return {
    apiKey,
    apiVersion,
    apiName: `api ${String(apiKey)}`,
    encode: () => {
      const encoder = new KafkajsEncoder()
      write(encoder)
      return Promise.resolve(encoder)
    },
  }
}

const encodeFrame = require('kafkajs/src/protocol/request') as (options: {
  correlationId: number
  clientId: string
  request: KafkajsRequest
}) => Promise<{ buffer: Buffer }>

/** A started broker with a silent logger, stopped at teardown (after the clients, which tests disconnect first). */
export async function startBroker(
  t: Teardown,
  options: KafkaTestBrokerOptions = {},
): Promise<{ broker: KafkaTestBroker; address: string }> {
  const broker = new KafkaTestBroker({ logger: silentLogger(), ...options })
  t.teardown(() => broker.stop())
  const address = await broker.start()
  return { broker, address }
}

/** A kafkajs client of `address` that logs nothing and retries quickly. */
export function kafkaOf(address: string, config: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'test',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries: 8 },
    ...config,
  })
}

/** A kafkajs `eachMessage`/`eachBatch` handler from a synchronous function. */
export function handler<P>(fn: (payload: P) => void): (payload: P) => Promise<void> {
  return (payload) => {
    fn(payload)
    return Promise.resolve()
  }
}

/** Consumer timings that make group tests fast (see docs/testing/kafka-broker.md). */
export const fastTimings = {
  maxWaitTimeInMs: 100,
  heartbeatInterval: 100,
  sessionTimeout: 3000,
  rebalanceTimeout: 3000,
  retry: { initialRetryTime: 50, retries: 8 },
} as const satisfies Partial<ConsumerConfig>

/** Consumer settings that make group tests fast: `fastTimings` for `groupId`. */
export function fastConsumer(groupId: string, extra: Partial<ConsumerConfig> = {}): ConsumerConfig {
  return { groupId, ...fastTimings, ...extra }
}

/** Produces records `{ id }` for ids `from … from + n - 1`, keyed by id, 500 per send. */
export async function produceJson(kafka: Kafka, topic: string, n: number, from = 0): Promise<void> {
  const producer = kafka.producer()
  await producer.connect()
  for (let i = from; i < from + n; i += 500) {
    const messages = []
    for (let id = i; id < Math.min(from + n, i + 500); id++)
      messages.push({ key: String(id), value: JSON.stringify({ id }) })
    await producer.send({ topic, messages })
  }
  await producer.disconnect()
}

/** Resolves once `condition` holds, checking every 10 ms; rejects after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`the condition did not hold within ${String(timeoutMs)} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A raw Kafka-protocol client over one TCP connection: kafkajs' encoders out, kafkajs' decoders in. */
export class RawClient {
  private buffered = Buffer.alloc(0)
  private readonly waiting: ((frame: Buffer | undefined) => void)[] = []
  private readonly frames: Buffer[] = []
  private correlationId = 0
  /** Resolves when the broker closes the connection. */
  readonly closed: Promise<void>

  private constructor(
    readonly socket: Socket,
    readonly clientId: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk])
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0)
        this.deliver(this.buffered.subarray(4, 4 + size))
        this.buffered = this.buffered.subarray(4 + size)
      }
    })
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        for (const waiter of this.waiting.splice(0)) waiter(undefined)
        resolve()
      }),
    )
    socket.on('error', () => undefined)
  }

  static async connect(address: string, clientId = 'raw'): Promise<RawClient> {
    const [host = '', port = ''] = address.split(':')
    const socket = connect(Number(port), host)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawClient(socket, clientId)
  }

  private deliver(frame: Buffer): void {
    const waiter = this.waiting.shift()
    if (waiter === undefined) this.frames.push(frame)
    else waiter(frame)
  }

  /** The next response frame (correlation id + body), or `undefined` once the connection closed. */
  nextFrame(): Promise<Buffer | undefined> {
    const frame = this.frames.shift()
    if (frame !== undefined) return Promise.resolve(frame)
    if (this.socket.destroyed) return Promise.resolve(undefined)
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  /** Writes a kafkajs-encoded request; returns its correlation id. */
  async write(request: KafkajsRequest): Promise<number> {
    const correlationId = ++this.correlationId
    const frame = await encodeFrame({ correlationId, clientId: this.clientId, request })
    this.socket.write(frame.buffer)
    return correlationId
  }

  /** Sends `api` at `version` with `args`; resolves with kafkajs' decoding of the answer (not parsed: errors are data). */
  async send<T = Record<string, unknown>>(api: string, version: number, args: object): Promise<T> {
    const definitions = kafkajsRequests[api]
    if (definitions === undefined) throw new Error(`kafkajs has no ${api}`)
    const { request, response } = definitions.protocol({ version })(args)
    const correlationId = await this.write(request)
    const frame = await this.nextFrame()
    if (frame === undefined) throw new Error(`the broker closed the connection instead of answering ${api}`)
    if (frame.readInt32BE(0) !== correlationId) throw new Error('answer to another request')
    return (await response.decode(frame.subarray(4))) as T
  }

  close(): void {
    this.socket.destroy()
  }
}

/** A raw client closed at teardown. */
export async function rawClient(t: Teardown, address: string, clientId?: string): Promise<RawClient> {
  const client = await RawClient.connect(address, clientId)
  t.teardown(() => {
    client.close()
  })
  return client
}
