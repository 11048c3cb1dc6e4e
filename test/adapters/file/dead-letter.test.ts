import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { InvalidOptionError, Message, Pipeline, type Acknowledger } from '../../../lib/index.js'
import { deadLetter } from '../../../adapters/file/index.js'

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sw-dead-letter-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** Polls `condition` every 10 ms for up to 10 s: the retries wait on real timers. */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  if (!condition()) throw new Error('the condition never held')
}

const readLines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)

t.test('appends one line per failed message: data, metadata, reason, attempts, failure times', async (t) => {
  const path = join(tempDir(t), 'dead.ndjson')
  const dead = deadLetter(path)
  const plain = new Message<unknown>({ id: 1 }, { metadata: { line: 3 } }).failed(new TypeError('boom'))
  const retried = new Message<unknown>(
    { id: 2 },
    {
      metadata: {
        attempts: 4,
        firstFailedAt: '2026-01-01T00:00:00.000Z',
        lastFailedAt: Date.UTC(2026, 0, 2),
      },
    },
  ).failed('gave up')
  const big = new Message<unknown>({ n: 1n }).failed(Object.assign(new Error('http'), { code: 'E_HTTP' }))
  const before = Date.now()
  const result = await dead.handleFailed([plain, retried, big])
  t.same(result, [plain, retried, big])
  t.equal(dead.written, 3)
  const [a, b, c] = readLines(path)
  t.match(a, {
    data: { id: 1 },
    metadata: { line: 3 },
    reason: { name: 'TypeError', message: 'boom' },
    attempts: 1,
  })
  t.equal(a!.firstFailedAt, a!.lastFailedAt)
  t.ok(Date.parse(a!.firstFailedAt as string) >= before - 1)
  t.match(b, {
    reason: { name: 'string', message: 'gave up' },
    attempts: 4,
    firstFailedAt: '2026-01-01T00:00:00.000Z',
    lastFailedAt: '2026-01-02T00:00:00.000Z',
  })
  t.match(c, { data: '{ n: 1n }', unserializable: true, reason: { code: 'E_HTTP', message: 'http' } })
  await dead.close()
  await t.rejects(dead.handleFailed([plain]), /closed/)
})

t.test('concurrent calls share writes and each resolves once its lines are written', async (t) => {
  const path = join(tempDir(t), 'dead.ndjson')
  const dead = deadLetter(path, { fsync: false })
  const calls = Array.from({ length: 20 }, (_, i) => dead.handleFailed([new Message({ i }).failed('x')]))
  await Promise.all(calls)
  t.same(
    readLines(path)
      .map((l) => (l.data as { i: number }).i)
      .sort((x, y) => x - y),
    Array.from({ length: 20 }, (_, i) => i),
  )
  await dead.close()
})

t.test('a failed write is retried until it succeeds; the call never resolves before that', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'later.ndjson')
  mkdirSync(path) // a directory where the file should be: every write fails with EISDIR
  const dead = deadLetter(path)
  t.teardown(() => dead.close())
  let resolved = false
  const call = dead.handleFailed([new Message(1).failed('x')]).then((messages) => {
    resolved = true
    return messages
  })
  await waitFor(() => dead.failedWrites >= 2)
  t.notOk(resolved, 'not resolved while the lines are not on disk')
  t.equal(dead.written, 0)
  t.match(dead.lastError, { code: 'EISDIR' })
  rmSync(path, { recursive: true })
  const messages = await call
  t.equal(messages.length, 1, 'resolved once the write succeeded')
  t.equal(readLines(path).length, 1)
  await dead.close()
})

t.test('close() rejects the calls still waiting for a failing disk', async (t) => {
  const path = join(tempDir(t), 'never')
  mkdirSync(path)
  const dead = deadLetter(path)
  const call = dead.handleFailed([new Message(1).failed('x')])
  await waitFor(() => dead.failedWrites >= 1)
  await dead.close()
  await t.rejects(call, { code: 'EISDIR' })
  t.equal(dead.written, 0)
  t.throws(() => deadLetter(''), InvalidOptionError)
  t.throws(() => deadLetter(path, { fsync: 'yes' } as unknown as { fsync: boolean }), InvalidOptionError)
})

t.test('in a Pipeline, the dead letters are on disk before the acknowledger acks them', async (t) => {
  const path = join(tempDir(t), 'dead.ndjson')
  writeFileSync(path, '')
  const dead = deadLetter(path)
  const onDiskAtAck: number[][] = []
  const acknowledger: Acknowledger = {
    ack(_successful, failed) {
      if (failed.length === 0) return
      const ids = new Set(readLines(path).map((l) => (l.data as { id: number }).id))
      onDiskAtAck.push(failed.map((m) => (ids.has((m.data as { id: number }).id) ? 1 : 0)))
    },
  }
  const source = Readable.from(Array.from({ length: 100 }, (_, id) => new Message({ id }, { acknowledger })))
  const p = new Pipeline<{ id: number }>({
    name: `dead-letter-${process.pid}-${Date.now()}`,
    logger: pino({ level: 'silent' }),
    producer: { source },
    handleMessage(_, message) {
      if (message.data.id % 7 === 0) throw new Error(`bad ${message.data.id}`)
      return message
    },
    handleFailed: dead.handleFailed,
  })
  await p.start()
  const report = await p.done
  await dead.close()
  t.equal(report.failed, 15)
  const flags = onDiskAtAck.flat()
  t.equal(flags.length, 15, 'every failed message was acked')
  t.ok(
    flags.every((f) => f === 1),
    'each was in the file when acked',
  )
  t.equal(readLines(path).length, 15)
})

t.test('bytes (a raw CSV row) are written as their text', async (t) => {
  const path = join(tempDir(t), 'dead.ndjson')
  const dead = deadLetter(path)
  const row = Buffer.from('xx7,"Portland, OR",été\n').subarray(2, 24)
  await dead.handleFailed([new Message<unknown>(row).failed('rejected')])
  await dead.close()
  t.match(readLines(path)[0], { data: '7,"Portland, OR",été' })
})
