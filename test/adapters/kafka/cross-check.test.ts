/**
 * The Kafka adapter against two Kafka-protocol peers: the project's test broker, and librdkafka's
 * mock cluster (Debian `kcat`, a Kafka implementation nobody here wrote), so that the adapter and
 * the test broker are checked against someone else's reading of the protocol. The same scenario
 * runs on both: the sink produces, a consumer group reads it all through the source, and the group's
 * committed offsets (read back with kafkajs' admin client) equal the topic's end offsets.
 *
 * `.ci/run` installs kcat; without it the mock-cluster half is skipped, saying so.
 */
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { Kafka, logLevel } from 'kafkajs'
import { Message, Pipeline } from '../../../lib/index.js'
import { startBroker } from '../../testing/kafka-broker/fixtures.js'
import { kafkaSink, kafkaSource } from '../../../adapters/kafka/index.js'
import { loggerInto, silentLogger, uniqueName } from '../../pipeline/fixtures.js'

t.setTimeout(120_000)

/** Settings the librdkafka mock needs (its rebalances run on timers; see KAFKA-TESTING.md). */
const consumer = {
  sessionTimeout: 3000,
  rebalanceTimeout: 3000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200,
  retry: { initialRetryTime: 100, retries: 10 },
}

/** A librdkafka mock cluster (kcat), stopped at teardown; its bootstrap address. */
async function mockCluster(t: Test): Promise<string> {
  const kcat = spawn(
    'kcat',
    ['-b', 'unused:1', '-X', 'test.mock.num.brokers=1', '-d', 'mock', '-P', '-t', 'keepalive'],
    {
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  )
  t.teardown(() => {
    kcat.stdin.end()
    kcat.kill()
  })
  return new Promise<string>((resolve, reject) => {
    let err = ''
    kcat.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString()
      const match = /bootstrap\.servers=([\d.]+:\d+)/.exec(err)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    kcat.on('exit', (code) => {
      reject(new Error(`kcat exited ${String(code)}: ${err.slice(-500)}`))
    })
  })
}

/** A client of `address` with the retry settings above, logging nothing. */
function clientOf(address: string): Kafka {
  return new Kafka({
    clientId: 'cross',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    retry: consumer.retry,
  })
}

/** A `kafkaSource` of `group` reading `topic` from the beginning, committing every 100 ms. */
function groupSource(kafka: Kafka, group: string, topic: string, logger = silentLogger()) {
  return kafkaSource({
    client: kafka,
    groupId: group,
    topics: [topic],
    fromBeginning: true,
    consumer,
    commitIntervalMs: 100,
    logger,
  })
}

/** The partitions of the last assignment a source logged (empty before its first join). */
function lastAssignment(lines: readonly Record<string, unknown>[]): number[] {
  for (let i = lines.length - 1; i >= 0; i--) {
    const assignment = lines[i]?.assignment as Record<string, number[]> | undefined
    if (assignment !== undefined) return Object.values(assignment).flat()
  }
  return []
}

/**
 * Records `{ id }` for ids `from` … n - 1 produced through `kafkaSink`, 100 per batch, to a topic
 * that is auto-created (the mock refuses CreateTopics: 4 partitions on both peers); resolves with
 * the count sent.
 */
async function produceThroughSink(kafka: Kafka, topic: string, n: number, from = 0): Promise<number> {
  const sink = kafkaSink({ client: kafka, topic, logger: silentLogger() })
  for (let i = from; i < n; i += 100)
    await sink.handleBatch(
      Array.from(
        { length: Math.min(100, n - i) },
        (_, k) => new Message<unknown>(JSON.stringify({ id: i + k })),
      ),
    )
  await sink.close()
  return sink.stats.sent
}

const hasKcat = spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0

const peers: [string, (t: Test) => Promise<string>, boolean][] = [
  [
    'the test broker',
    async (t) => {
      const { address } = await startBroker(t, { defaultPartitions: 4 })
      return address
    },
    false,
  ],
  ['librdkafka’s mock cluster', mockCluster, !hasKcat],
]

for (const [peer, start, skip] of peers)
  t.test(
    `${peer}: the sink produces, a group reads it all, committed offsets reach the end`,
    { skip: skip ? 'kcat (librdkafka) is not installed; .ci/run installs it' : false },
    async (t) => {
      const address = await start(t)
      const kafka = clientOf(address)
      const topic = uniqueName('cross')
      const N = 600
      t.equal(await produceThroughSink(kafka, topic, N), N)
      const seen = new Set<number>()
      const group = uniqueName('group')
      const source = groupSource(kafka, group, topic)
      const p = new Pipeline({
        name: uniqueName('cross'),
        producer: { source },
        handleMessage: (_, m) => {
          seen.add((JSON.parse(String(m.data)) as { id: number }).id)
          return m
        },
        logger: silentLogger(),
      })
      await p.start()
      const deadline = Date.now() + 60_000
      while (seen.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      await p.stop()
      t.equal(seen.size, N, 'every record read')
      const admin = kafka.admin()
      await admin.connect()
      const ends = await admin.fetchTopicOffsets(topic)
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
      await admin.disconnect()
      const end = (p: number) => ends.find((e) => e.partition === p)?.high
      t.ok(ends.length >= 1)
      t.same(
        committed?.partitions.filter((c) => Number(end(c.partition)) > 0).map((c) => [c.partition, c.offset]),
        ends.filter((e) => Number(e.high) > 0).map((e) => [e.partition, e.high]),
        'committed = end offset on every partition with records',
      )
    },
  )

for (const [peer, start, skip] of peers)
  t.test(
    `${peer}: two members of one group split the partitions and read everything between them`,
    { skip: skip ? 'kcat (librdkafka) is not installed; .ci/run installs it' : false },
    async (t) => {
      const address = await start(t)
      const kafka = clientOf(address)
      // The records come once both members hold partitions: a member that joined alone first
      // cannot read them all before the other one joins, however slow the host.
      // The mock's rebalances run on timers and a second join sometimes sticks (KAFKA-TESTING.md: 1
      // run in 20; more on a loaded host): up to two more tries, with a fresh topic and group each.
      for (let attempt = 1; ; attempt++) {
        const topic = uniqueName('split')
        const group = uniqueName('split-group')
        // A few records first: the peers create a topic on its first produce.
        await produceThroughSink(kafka, topic, 4)
        const seenBy = [new Set<number>(), new Set<number>()]
        const logs = seenBy.map(() => [] as Record<string, unknown>[])
        const pipelines = seenBy.map((seen, i) => {
          const source = groupSource(kafka, group, topic, loggerInto(logs[i] ?? [], { level: 'info' }))
          return new Pipeline({
            name: uniqueName(`split-${String(i)}`),
            producer: { source },
            handleMessage: (_, m) => {
              seen.add((JSON.parse(String(m.data)) as { id: number }).id)
              return m
            },
            logger: silentLogger(),
          })
        })
        for (const p of pipelines) await p.start()
        const split = () => {
          const [a, b] = logs.map(lastAssignment) as [number[], number[]]
          return a.length > 0 && b.length > 0 && a.length + b.length === 4
        }
        const joinedBy = Date.now() + 20_000
        while (!split() && Date.now() < joinedBy) await new Promise((r) => setTimeout(r, 50))
        if (split()) await produceThroughSink(kafka, topic, 400, 4)
        const all = () => new Set([...(seenBy[0] ?? []), ...(seenBy[1] ?? [])])
        const deadline = Date.now() + 40_000
        while (split() && all().size < 400 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50))
        await Promise.all(pipelines.map((p) => p.stop()))
        const done = all().size === 400 && seenBy.every((s) => s.size > 0)
        if (!done && attempt < 3) {
          t.comment(
            `attempt ${String(attempt)}: split ${String(split())}, ${String(all().size)} read, by ${seenBy.map((s) => s.size).join('/')}; trying again`,
          )
          continue
        }
        t.ok(split(), 'the group gave each member partitions')
        t.equal(all().size, 400, 'every record read by the group')
        t.ok(
          seenBy.every((s) => s.size > 0),
          `both members read records (${seenBy.map((s) => s.size).join(' + ')})`,
        )
        break
      }
    },
  )
