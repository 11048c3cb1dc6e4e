/**
 * Crash and scale-out, for real: `streamway forward` (the `bin/streamway.ts` shim, in child
 * processes under tap's TypeScript loader) against the Kafka test broker and an HTTP server, both
 * in this process. A forwarder killed with SIGKILL and started again delivers every record at
 * least once, with duplicates bounded by what was delivered but not committed at the kill; two
 * forwarders in one group split the partitions, and when one is killed the other takes them over.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KafkaTestBroker } from '../../lib/testing.js'
import { silentLogger, uniqueName } from '../pipeline/fixtures.js'
import { ok, startServer, type TestServer } from '../adapters/http/server.js'
import { kafkaOf, produceJson } from '../testing/kafka-broker/fixtures.js'

t.setTimeout(180_000)

const loader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))
const shim = fileURLToPath(new URL('../../bin/streamway.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'streamway-forward-crash-'))
const children = new Set<ChildProcess>()
t.teardown(() => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

interface Forwarder {
  readonly child: ChildProcess
  readonly exit: Promise<number | null>
  stderr(): string
}

function forwarder(address: string, topic: string, to: string, extra: string[] = []): Forwarder {
  if (loader === undefined) throw new Error('no TypeScript loader')
  const args = [
    ...['--from', `kafka://${address}/${topic}`, '--group', 'crash', '--to', to, '--from-beginning'],
    ...['--batch-size', '50', '--batch-timeout', '50', '--commit-interval', '200'],
    ...['--session-timeout', '3000', '--heartbeat-interval', '200'],
    ...[
      '--dead-letter',
      join(dir, `${uniqueName('dead')}.ndjson`),
      '--no-progress',
      '--log-level',
      process.env.SW_TEST_LOG ?? 'silent',
    ],
    ...extra,
  ]
  const child = spawn(process.execPath, [loader, shim, 'forward', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
  })
  children.add(child)
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      resolve(code)
    }),
  )
  return { child, exit, stderr: () => stderr }
}

/** Records `{ id }` for ids `from … from + n - 1`, keyed by id. */
function produce(address: string, topic: string, from: number, n: number): Promise<void> {
  return produceJson(kafkaOf(address), topic, n, from)
}

/** Every id the server got, with repeats. */
const idsOf = (server: TestServer): number[] =>
  server.requests.flatMap((r) => (JSON.parse(r.body) as { id: number }[]).map((x) => x.id))

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const sumOf = (offsets: Record<number, bigint> | undefined) =>
  Object.values(offsets ?? {}).reduce((n, o) => n + Number(o), 0)

if (loader === undefined) t.pass('skipped: not running under the tap TypeScript loader')
else {
  t.test(
    'SIGKILL mid-stream, then a restart: every record at least once, duplicates bounded by the uncommitted',
    async (t) => {
      const broker = new KafkaTestBroker({ logger: silentLogger() })
      t.teardown(() => broker.stop())
      const address = await broker.start()
      const topic = uniqueName('crash')
      broker.createTopic(topic, 4)
      const N = 20_000
      await produce(address, topic, 0, N)
      // A slow server (2 ms a batch): the kill lands mid-stream.
      const server = await startServer(t, (_req, res) =>
        setTimeout(() => {
          ok(res)
        }, 2),
      )
      const first = forwarder(address, topic, server.url, ['--max-rate', '4000'])
      // Killed once it delivered 4000 and committed some: the rate limit lets a first burst of 4000
      // through before the first commit tick, so waiting on deliveries alone could kill it too early.
      await until(
        () => idsOf(server).length >= 4000 && sumOf(broker.committedOffsets('crash')[topic]) > 0,
        'the first forwarder to deliver 4000 and commit',
      ).catch((error: unknown) => {
        t.comment(`delivered ${String(idsOf(server).length)}; stderr: ${first.stderr().slice(-3000)}`)
        throw error
      })
      first.child.kill('SIGKILL')
      t.equal(await first.exit, null, 'killed')
      const deliveredAtKill = idsOf(server).length
      const committedAtKill = sumOf(broker.committedOffsets('crash')[topic])
      t.ok(
        committedAtKill > 0 && committedAtKill < N,
        `killed mid-stream: ${String(committedAtKill)} committed`,
      )
      const second = forwarder(address, topic, server.url)
      await until(() => new Set(idsOf(server)).size === N, 'every record delivered')
      await until(() => sumOf(broker.committedOffsets('crash')[topic]) === N, 'every offset committed')
      second.child.kill('SIGTERM')
      t.equal(await second.exit, 0, 'the restarted forwarder stops gracefully on SIGTERM')
      const ids = idsOf(server)
      t.equal(new Set(ids).size, N, 'none missing')
      const duplicates = ids.length - N
      t.ok(
        duplicates <= deliveredAtKill - committedAtKill,
        `duplicates (${String(duplicates)}) ≤ delivered but uncommitted at the kill (${String(deliveredAtKill - committedAtKill)})`,
      )
    },
  )

  t.test('scale-out: two forwarders split the partitions; one is killed, the other takes over', async (t) => {
    const broker = new KafkaTestBroker({ logger: silentLogger() })
    t.teardown(() => broker.stop())
    const address = await broker.start()
    const topic = uniqueName('scale')
    broker.createTopic(topic, 4)
    await produce(address, topic, 0, 2000)
    const server = await startServer(t, (_req, res) =>
      setTimeout(() => {
        ok(res)
      }, 2),
    )
    const a = forwarder(address, topic, server.url, ['--max-rate', '2000'])
    const b = forwarder(address, topic, server.url, ['--max-rate', '2000'])
    await until(() => {
      const group = broker.groupState('crash')
      return (
        group?.state === 'Stable' &&
        group.members.length === 2 &&
        group.members.every((m) => (m.assignment?.[topic]?.length ?? 0) === 2)
      )
    }, 'both forwarders to own two partitions each')
    await produce(address, topic, 2000, 8000)
    await until(() => idsOf(server).length >= 4000, '4000 delivered')
    a.child.kill('SIGKILL')
    await until(() => {
      const group = broker.groupState('crash')
      return (
        group?.state === 'Stable' &&
        group.members.length === 1 &&
        (group.members[0]?.assignment?.[topic]?.length ?? 0) === 4
      )
    }, 'the survivor to own all four partitions')
    await until(() => new Set(idsOf(server)).size === 10_000, 'every record delivered')
    b.child.kill('SIGTERM')
    t.equal(await b.exit, 0)
    t.equal(new Set(idsOf(server)).size, 10_000, 'nothing missing')
    t.same(
      Object.values(broker.committedOffsets('crash')[topic] ?? {}),
      broker.highWatermarks(topic),
      'committed to the end',
    )
  })
}
