/**
 * Kafka to HTTP with the engine in between: while the HTTP server fails (5xx, or hangs past the
 * timeout) the commits stay behind every record not yet delivered or dead-lettered; once it
 * recovers, or once the records are dead-lettered, the commits reach the end.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pipeline } from '../../../lib/index.js'
import type { KafkaTestBroker } from '../../../lib/testing.js'
import { deadLetter } from '../../../adapters/file/index.js'
import { httpSink } from '../../../adapters/http/index.js'
import { kafkaIdempotencyKey, kafkaSource } from '../../../adapters/kafka/index.js'
import { silentLogger, uniqueName } from '../../pipeline/fixtures.js'
import { fastTimings as fast, kafkaOf, startBroker } from '../../testing/kafka-broker/fixtures.js'
import { ok, startServer, type Answer } from '../http/server.js'

const dir = mkdtempSync(join(tmpdir(), 'streamway-forwarding-'))

interface Run {
  broker: KafkaTestBroker
  topic: string
  /** Offsets (per partition) of the records the server accepted, or that were dead-lettered. */
  done: Map<number, Set<number>>
  /** Commits that passed a record not done: must stay empty. */
  early: string[]
  pipeline: Pipeline
  deadLetterPath: string
}

async function forwarding(t: Test, n: number, answer: Answer, retries: number): Promise<Run> {
  const { broker, address } = await startBroker(t)
  const topic = uniqueName('fwd')
  broker.createTopic(topic, 2)
  const kafka = kafkaOf(address)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic,
    messages: Array.from({ length: n }, (_, id) => ({ key: String(id), value: JSON.stringify({ id }) })),
  })
  await producer.disconnect()
  // id → (partition, offset), from what the broker stored.
  const where = new Map<number, [number, number]>()
  for (const r of broker.records(topic))
    where.set((JSON.parse(String(r.value)) as { id: number }).id, [r.partition, Number(r.offset)])
  const done = new Map<number, Set<number>>()
  const markDone = (id: number) => {
    const [partition, offset] = where.get(id) as [number, number]
    done.set(partition, (done.get(partition) ?? new Set()).add(offset))
  }
  const server = await startServer(t, (req, res, i) => {
    answer(req, res, i)
    res.on('finish', () => {
      if (res.statusCode === 200) for (const { id } of JSON.parse(req.body) as { id: number }[]) markDone(id)
    })
  })
  const early: string[] = []
  broker.on('request', (event) => {
    if (event.api !== 'OffsetCommit') return
    for (const tp of event.request.topics)
      for (const { partition, offset } of tp.partitions)
        for (let o = 0; o < Number(offset); o++)
          if (done.get(partition)?.has(o) !== true) {
            early.push(
              `partition ${String(partition)}: commit ${String(offset)} passes ${String(o)}, not delivered`,
            )
            break
          }
  })
  const deadLetterPath = join(dir, `${uniqueName('dead')}.ndjson`)
  const dead = deadLetter(deadLetterPath)
  t.teardown(() => dead.close())
  const sink = httpSink({
    url: server.url,
    retries,
    minDelayMs: 10,
    maxDelayMs: 50,
    timeoutMs: 300,
    idempotencyKey: kafkaIdempotencyKey,
    logger: silentLogger(),
  })
  t.teardown(() => sink.close())
  const pipeline = new Pipeline({
    name: uniqueName('fwd'),
    producer: {
      source: kafkaSource({
        client: kafka,
        groupId: 'g',
        topics: [topic],
        fromBeginning: true,
        consumer: fast,
        commitIntervalMs: 20,
        logger: silentLogger(),
      }),
    },
    handleMessage: (_, m) =>
      m
        .putData(JSON.parse(String(m.data)) as unknown)
        .putBatchKey((m.metadata as { partition: number }).partition),
    batchers: { default: { batchSize: 20, batchTimeoutMs: 20, concurrency: 4 } },
    handleBatch: (_, messages) => sink.handleBatch(messages),
    handleFailed: async (messages) => {
      const out = await dead.handleFailed(messages)
      for (const m of messages) markDone((m.data as { id: number }).id)
      return out
    },
    logger: silentLogger(),
  })
  await pipeline.start()
  return { broker, topic, done, early, pipeline: pipeline, deadLetterPath }
}

const doneCount = (run: Run) => [...run.done.values()].reduce((n, s) => n + s.size, 0)

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const ends = (run: Run) => run.broker.highWatermarks(run.topic)
const committed = (run: Run) => Object.values(run.broker.committedOffsets('g')[run.topic] ?? {})

t.test('a server answering 500 for a while, then 200: commits wait, then reach the end', async (t) => {
  let failing = true
  const run = await forwarding(
    t,
    400,
    (_req, res) => {
      if (failing) res.writeHead(500).end()
      else ok(res)
    },
    1000,
  )
  await new Promise((r) => setTimeout(r, 500))
  t.equal(doneCount(run), 0, 'nothing delivered while the server fails')
  t.same(
    committed(run).filter((o) => o > 0n),
    [],
    'nothing committed past the first record',
  )
  failing = false
  await until(() => doneCount(run) === 400)
  await until(() => String(committed(run)) === String(ends(run)))
  await run.pipeline.stop()
  t.same(run.early, [], 'no commit passed a record not delivered')
})

t.test('a server hanging past the timeout for some requests: retried, then delivered', async (t) => {
  const run = await forwarding(
    t,
    200,
    (_req, res, i) => {
      // Every third request hangs past the sink's timeout: it is retried.
      if (i % 3 !== 0) ok(res)
    },
    1000,
  )
  await until(() => doneCount(run) === 200)
  await until(() => String(committed(run)) === String(ends(run)))
  await run.pipeline.stop()
  t.same(run.early, [], 'no commit passed a record not delivered')
})

t.test('a server that keeps failing: records are dead-lettered, then their offsets commit', async (t) => {
  const run = await forwarding(
    t,
    100,
    (_req, res) => {
      res.writeHead(503).end()
    },
    1,
  )
  await until(() => doneCount(run) === 100)
  await until(() => String(committed(run)) === String(ends(run)))
  await run.pipeline.stop()
  t.same(run.early, [], 'no commit passed a record not dead-lettered')
  t.equal(
    readFileSync(run.deadLetterPath, 'utf8').trim().split('\n').length,
    100,
    'every record is in the dead-letter file',
  )
})
