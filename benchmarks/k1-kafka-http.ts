/**
 * K1 kafka-http: `n` records (≈ 100 B of JSON, H1's records) on an 8-partition topic, forwarded in
 * batches of `BATCH_SIZE` to H1's HTTP server (`h1-server.ts`), offsets committed. The broker is the
 * project's Kafka test broker in a process of its own (`k1-broker.ts`); the records are produced
 * once, in `setup`, and every run reads them all from the beginning with a group of its own.
 *
 * Baseline: the loop a user writes by hand: kafkajs `eachBatch` (8 partitions at once) posting each
 * slice of `BATCH_SIZE` values joined into a JSON array through an undici Pool of `CONNECTIONS`,
 * kafkajs committing as it goes. streamway: `kafkaSource` → `Pipeline` (default processors, the
 * value sent as its bytes, one partition per batch; a second case checks each value is JSON first,
 * as `streamway forward` does by default) → batcher(`BATCH_SIZE`, c=`CONNECTIONS`) →
 * `httpSink` (`CONNECTIONS` connections, idempotency key from topic-partition-offsets) — what
 * `streamway forward` runs. A run ends once `n` records were acked; the consumer then commits and
 * leaves. After each run: the server counted `n` records, and the group's committed offsets equal
 * the topic's end offsets.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import kafkajs from 'kafkajs'
import { Pool } from 'undici'
import { httpSink } from '../adapters/http/index.js'
import { kafkaIdempotencyKey, kafkaSource, type KafkaMetadata } from '../adapters/kafka/index.js'
import { isJsonText } from '../lib/internal/json-check.js'
import { Pipeline } from '../lib/pipeline/pipeline.js'
import type { Message } from '../lib/message.js'
import { silentLogger, type BenchCase, type Workload } from './harness.js'

const { Kafka, logLevel } = kafkajs

export const BATCH_SIZE = 100
export const CONNECTIONS = 8
export const PARTITIONS = 8
const TOPIC = 'k1'
const EPOCH_MS = Date.UTC(2026, 0, 1)

/** Record `i`, as H1 makes it. */
const record = (i: number): string =>
  JSON.stringify({
    id: i,
    customer: `customer${i}@example.com`,
    amount: ((i * 7919) % 1_000_000) / 100,
    currency: 'EUR',
    at: new Date(EPOCH_MS + i * 1000).toISOString(),
  })

/** Consumer settings both sides use. */
const consumerConfig = { maxWaitTimeInMs: 100, heartbeatInterval: 1000, sessionTimeout: 10_000 }

/**
 * K1's cases against a broker and a server forked in `setup`.
 * @param n records. @default 1_000_000
 */
export function k1KafkaHttp(n = 1_000_000): Workload {
  let broker: ChildProcess | undefined
  let server: ChildProcess | undefined
  let address = ''
  let origin = ''
  let runs = 0
  let group = ''
  const kafka = () => new Kafka({ clientId: 'k1', brokers: [address], logLevel: logLevel.NOTHING })
  const ask = async <T>(child: ChildProcess | undefined, message: unknown): Promise<T> => {
    if (child === undefined) throw new Error('k1: a helper process is not running')
    const answer = once(child, 'message')
    child.send(message as object)
    return (await answer)[0] as T
  }
  const counted = (name: string, run: (groupId: string) => Promise<void>): BenchCase => ({
    name,
    items: n,
    run: () => run((group = `k1-${String(++runs)}`)),
    async verify() {
      const got = await ask<{ records: number; batches: number }>(server, 'take')
      if (got.records !== n) throw new Error(`k1: the server counted ${got.records} records, expected ${n}`)
      const offsets = await ask<{ committed: number; ends: number; partitions: number }>(broker, {
        offsets: group,
        topic: TOPIC,
      })
      if (offsets.committed !== offsets.ends || offsets.partitions !== PARTITIONS)
        throw new Error(
          `k1: committed ${offsets.committed} of ${offsets.ends} on ${offsets.partitions} partitions`,
        )
      return `the server counted ${got.records.toLocaleString('en-US')} records; committed offsets = end offsets on ${PARTITIONS} partitions ✓`
    },
  })
  /** The streamway case: `check` parses each value (a bad one would fail), as the CLI's default. */
  const streamway = (label: string, check: boolean): BenchCase =>
    counted(
      `Pipeline: kafkaSource → processors (${label}) → batcher(${BATCH_SIZE}, c=${CONNECTIONS}) → httpSink`,
      async (groupId) => {
        const sink = httpSink({
          url: `${origin}/`,
          connections: CONNECTIONS,
          idempotencyKey: kafkaIdempotencyKey,
          logger: silentLogger,
        })
        const source = kafkaSource({
          client: kafka(),
          groupId,
          topics: [TOPIC],
          fromBeginning: true,
          consumer: consumerConfig,
          logger: silentLogger,
        })
        let acked = 0
        let finish: () => void = () => undefined
        const finished = new Promise<void>((resolve) => (finish = resolve))
        const p = new Pipeline({
          name: `k1 ${groupId}`,
          producer: { source },
          // A forwarder's timeout: a partition's last partial batch goes after 100 ms.
          batchers: { default: { batchSize: BATCH_SIZE, batchTimeoutMs: 100, concurrency: CONNECTIONS } },
          // One partition per batch; the value goes as its bytes (the sink takes bytes as JSON text).
          handleMessage: (_, m: Message) => {
            // The check `streamway forward` makes by default: the bytes are one JSON text in UTF-8.
            if (check && !isJsonText(m.data as Buffer)) throw new Error('k1: a value is not JSON')
            return m.putBatchKey((m.metadata as KafkaMetadata).partition)
          },
          handleBatch: async (_, messages) => {
            const out = await sink.handleBatch(messages)
            acked += out.length
            if (acked >= n) finish()
            return out
          },
          logger: silentLogger,
        })
        try {
          await p.start()
          await finished
          await p.stop() // drains, commits, leaves
        } finally {
          await sink.close()
        }
      },
    )
  return {
    id: 'k1',
    title: `kafka-http, ${n.toLocaleString('en-US')} records on ${PARTITIONS} partitions, batches of ${BATCH_SIZE}, ${CONNECTIONS} connections`,
    unit: 'records/s',
    async setup() {
      broker = fork(fileURLToPath(new URL('./k1-broker.js', import.meta.url)), [], { execArgv: [] })
      address = ((await once(broker, 'message')) as [{ address: string }])[0].address
      server = fork(fileURLToPath(new URL('./h1-server.js', import.meta.url)), [], { execArgv: [] })
      origin = `http://127.0.0.1:${((await once(server, 'message')) as [{ port: number }])[0].port}`
      const admin = kafka().admin()
      await admin.connect()
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] })
      await admin.disconnect()
      const producer = kafka().producer()
      await producer.connect()
      for (let i = 0; i < n; i += 10_000) {
        const messages = []
        for (let id = i; id < Math.min(n, i + 10_000); id++)
          messages.push({ key: String(id), value: record(id) })
        await producer.send({ topic: TOPIC, messages })
      }
      await producer.disconnect()
    },
    async teardown() {
      for (const child of [server, broker]) {
        if (child === undefined) continue
        const exited = once(child, 'exit')
        child.disconnect()
        await exited
      }
      server = broker = undefined
    },
    baseline: counted(`kafkajs eachBatch + undici Pool, hand-written (baseline)`, async (groupId) => {
      const pool = new Pool(origin, { connections: CONNECTIONS })
      const consumer = kafka().consumer({ groupId, ...consumerConfig })
      let sent = 0
      let finish: () => void = () => undefined
      const finished = new Promise<void>((resolve) => (finish = resolve))
      await consumer.connect()
      await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
      await consumer.run({
        partitionsConsumedConcurrently: CONNECTIONS,
        eachBatch: async (payload) => {
          const { batch } = payload
          const values = batch.messages
          for (let i = 0; i < values.length; i += BATCH_SIZE) {
            let body = '['
            const end = Math.min(values.length, i + BATCH_SIZE)
            for (let k = i; k < end; k++) body += (k === i ? '' : ',') + String(values[k]?.value)
            const response = await pool.request({
              path: '/',
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: body + ']',
            })
            await response.body.dump()
            if (response.statusCode !== 200) throw new Error(`k1 baseline: status ${response.statusCode}`)
            sent += end - i
            await payload.heartbeat()
          }
          if (sent >= n) finish()
        },
      })
      await finished
      await consumer.disconnect() // waits for the batch in progress, commits, leaves
      await pool.close()
    }),
    cases: [
      // Values forwarded as they are, like the baseline (`streamway forward --value-format raw`).
      streamway('raw', false),
      // What `streamway forward` does by default: each value checked to be JSON first.
      streamway('JSON check', true),
    ],
  }
}
