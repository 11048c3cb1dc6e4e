// FileCheckpoint: the low watermark over out-of-order acks, atomic persistence every N rows / T ms
// and at close, load, bounded memory, and a run through a real Pipeline.
import t from 'tap'
import fc from 'fast-check'
import FakeTimers from '@sinonjs/fake-timers'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setImmediate as tick } from 'node:timers/promises'
import { pino } from 'pino'
import { CheckpointError, InvalidOptionError, Message, Pipeline } from '../../../lib/index.js'
import { FileCheckpoint, fileCheckpointOptionsSchema } from '../../../adapters/file/index.js'
import type { RecordPosition } from '../../../adapters/file/position.js'
import { seededRandom } from '../../helpers.js'

let dirs = 0
/** A fresh checkpoint path in a temporary directory. */
function checkpointPath(): string {
  dirs++
  return join(mkdtempSync(join(tmpdir(), `streamway-ckpt-${String(dirs)}-`)), 'import.ckpt')
}

/** Record `i` (0-based): one 10-byte line each, so record i ends at line i + 1, offset 10 (i + 1). */
function positionOf(i: number): RecordPosition {
  return { line: i + 1, offset: 10 * (i + 1) }
}

/** Tracks `n` records and returns one message per record. */
function trackAll(checkpoint: FileCheckpoint, n: number, from = 0): Message<number>[] {
  const messages: Message<number>[] = []
  for (let i = from; i < from + n; i++) messages.push(new Message(i, checkpoint.track(positionOf(i))))
  return messages
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
}

/**
 * Waits (on real `setImmediate`, the only clock a test here leaves real) until `check()` holds, for
 * up to 10 s of wall time: the file writes run on libuv's pool, which a loaded host makes slow.
 */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition never held')
    await tick()
  }
}

const NO_AUTO = { everyRows: Infinity, everyMs: Infinity } as const

// ─── Options ──────────────────────────────────────────────────────────────────────────────────────

t.test('options are validated and defaulted', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath())
  t.same(checkpoint.options, { everyRows: 10_000, everyMs: 1000 })
  t.throws(() => new FileCheckpoint(checkpointPath(), { everyRows: 0 }), {
    name: 'InvalidOptionError',
    path: 'options.everyRows',
  })
  t.throws(() => new FileCheckpoint(checkpointPath(), { everyMs: 1.5 }), InvalidOptionError)
  t.throws(() => new FileCheckpoint(checkpointPath(), { file: '' }), {
    name: 'InvalidOptionError',
    path: 'options.file',
  })
  t.throws(() => new FileCheckpoint(checkpointPath(), { start: { line: -1, offset: 0 } }), {
    name: 'InvalidOptionError',
    path: 'options.start.line',
  })
  t.throws(() => new FileCheckpoint(checkpointPath(), { every: 1 } as never), {
    name: 'InvalidOptionError',
    path: 'options.every',
  })
  t.throws(() => new FileCheckpoint(''), CheckpointError)
  t.same(Object.keys(fileCheckpointOptionsSchema.shape), ['everyRows', 'everyMs', 'file', 'start'])
  t.end()
})

// ─── The watermark ────────────────────────────────────────────────────────────────────────────────

t.test('in-order acks move the position record by record', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath(), NO_AUTO)
  const messages = trackAll(checkpoint, 3)
  t.equal(checkpoint.position, undefined)
  t.same(
    messages.map((m) => m.ackData),
    [0, 1, 2],
  )
  t.equal(messages[0]!.acknowledger, checkpoint)
  for (const [i, message] of messages.entries()) {
    checkpoint.ack([message], [])
    t.same(checkpoint.position, positionOf(i))
  }
  t.equal(checkpoint.inFlight, 0)
  t.end()
})

t.test('a gap holds the checkpoint back until it is acked; failed acks count', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath(), NO_AUTO)
  const [m0, m1, m2, m3, m4] = trackAll(checkpoint, 5) as [Message, Message, Message, Message, Message]
  checkpoint.ack([m3, m0], [m4])
  t.same(checkpoint.position, positionOf(0), 'record 1 is in flight')
  checkpoint.ack([], [m1])
  t.same(checkpoint.position, positionOf(1), 'record 2 is in flight')
  t.equal(checkpoint.inFlight, 3)
  checkpoint.ack([m2], [])
  t.same(checkpoint.position, positionOf(4), 'the gap closed: up to the last record')
  t.equal(checkpoint.inFlight, 0)
  t.end()
})

t.test('starts at `start` until a record is acked', (t) => {
  const start = { line: 40, offset: 400 }
  const checkpoint = new FileCheckpoint(checkpointPath(), { ...NO_AUTO, start })
  t.same(checkpoint.position, start)
  const [m] = trackAll(checkpoint, 1, 40)
  checkpoint.ack([m!], [])
  t.same(checkpoint.position, positionOf(40))
  t.end()
})

t.test('records out of file order, double acks and foreign ackData are refused', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath(), NO_AUTO)
  const [m0, m1] = trackAll(checkpoint, 2) as [Message, Message]
  t.throws(() => checkpoint.track(positionOf(0)), CheckpointError, 'going back')
  t.throws(() => checkpoint.track({ line: Number.NaN, offset: 100 }), CheckpointError)
  checkpoint.ack([m0], [])
  t.throws(() => checkpoint.ack([m0, m1], []), CheckpointError, 'm0 acked twice')
  t.same(checkpoint.position, positionOf(1), 'm1 was still counted')
  t.throws(() => checkpoint.ack([new Message(null, { ackData: 'x' })], []), CheckpointError)
  t.throws(() => checkpoint.ack([new Message(null, { ackData: 99 })], []), CheckpointError)
  t.end()
})

t.test('the position never passes an unacked record, whatever the ack order (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 60 }).chain((n) =>
        fc.record({
          n: fc.constant(n),
          order: fc.shuffledSubarray(
            Array.from({ length: n }, (_, i) => i),
            { minLength: n, maxLength: n },
          ),
          cuts: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: n, maxLength: n }),
          failed: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          everyRows: fc.integer({ min: 1, max: 20 }),
        }),
      ),
      async ({ n, order, cuts, failed, everyRows }) => {
        const path = checkpointPath()
        const checkpoint = new FileCheckpoint(path, { everyRows, everyMs: Infinity })
        const messages = trackAll(checkpoint, n)
        const acked = new Set<number>()
        /** The reference: the position of the last record of the acked prefix. */
        const expected = (): RecordPosition | undefined => {
          let low = 0
          while (acked.has(low)) low++
          return low === 0 ? undefined : positionOf(low - 1)
        }
        const below = (p: RecordPosition | undefined) => {
          // Every record whose end is at or before p must be acked.
          for (let i = 0; i < n && p !== undefined && positionOf(i).offset <= p.offset; i++)
            if (!acked.has(i)) return false
          return true
        }
        let at = 0
        let cut = 0
        while (at < order.length) {
          const size = cuts[cut++] ?? 1
          const group = order.slice(at, at + size)
          at += size
          for (const i of group) acked.add(i)
          const ok = group.filter((i) => failed[i] !== true).map((i) => messages[i]!)
          const bad = group.filter((i) => failed[i] === true).map((i) => messages[i]!)
          await checkpoint.ack(ok, bad)
          if (!below(checkpoint.position) || !below(checkpoint.persisted)) return false
          if (JSON.stringify(checkpoint.position) !== JSON.stringify(expected())) return false
          const onDisk = await FileCheckpoint.load(path)
          if (!below(onDisk)) return false
        }
        await checkpoint.close()
        const last = JSON.stringify(positionOf(n - 1))
        return (
          checkpoint.inFlight === 0 &&
          JSON.stringify(checkpoint.position) === last &&
          JSON.stringify(await FileCheckpoint.load(path)) === last
        )
      },
    ),
    { numRuns: 60 },
  )
})

// ─── Persistence ──────────────────────────────────────────────────────────────────────────────────

t.test('the checkpoint is written every `everyRows` rows, atomically', async (t) => {
  const path = checkpointPath()
  const checkpoint = new FileCheckpoint(path, { everyRows: 3, everyMs: Infinity, file: 'data/orders.csv' })
  const messages = trackAll(checkpoint, 7)
  t.equal(checkpoint.ack(messages.slice(0, 2), []), undefined, 'no write below 3 rows')
  t.notOk(existsSync(path))
  await checkpoint.ack(messages.slice(2, 3), [])
  const data = readJson(path)
  t.match(data, { version: 1, line: 3, offset: 30, file: join(process.cwd(), 'data/orders.csv') })
  t.ok(!Number.isNaN(Date.parse(String(data.updatedAt))))
  t.same(Object.keys(data).sort(), ['file', 'line', 'offset', 'updatedAt', 'version'])
  t.notOk(existsSync(`${path}.tmp`), 'the temp file was renamed')
  t.equal(checkpoint.ack(messages.slice(3, 5), []), undefined)
  t.same(await FileCheckpoint.load(path), positionOf(2), 'not yet: 2 rows since the write')
  await checkpoint.ack(messages.slice(5, 6), [])
  t.same(await FileCheckpoint.load(path), positionOf(5))
  checkpoint.ack(messages.slice(6), [])
  await checkpoint.close()
  t.same(await FileCheckpoint.load(path), positionOf(6), 'the rest at close')
  t.same(checkpoint.persisted, positionOf(6))
})

t.test('the checkpoint is written `everyMs` after it moves, with one timer only while needed', async (t) => {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] })
  t.teardown(() => {
    clock.uninstall()
  })
  const path = checkpointPath()
  const checkpoint = new FileCheckpoint(path, { everyRows: Infinity, everyMs: 1000 })
  const messages = trackAll(checkpoint, 4)
  t.equal(clock.countTimers(), 0, 'no timer while nothing moved')
  checkpoint.ack([messages[1]!], [])
  t.equal(clock.countTimers(), 0, 'a gap is not a move')
  checkpoint.ack([messages[0]!], [])
  t.equal(clock.countTimers(), 1)
  clock.tick(500)
  checkpoint.ack([messages[2]!], [])
  t.equal(clock.countTimers(), 1, 'one timer for many moves')
  clock.tick(499)
  t.notOk(existsSync(path))
  clock.tick(1)
  await until(() => checkpoint.persisted !== undefined)
  t.same(await FileCheckpoint.load(path), positionOf(2))
  t.equal(clock.countTimers(), 0, 'nothing new: no timer')
  clock.tick(5000)
  checkpoint.ack([messages[3]!], [])
  t.equal(clock.countTimers(), 1)
  await checkpoint.close()
  t.equal(clock.countTimers(), 0, 'close clears the timer')
  t.same(await FileCheckpoint.load(path), positionOf(3))
})

t.test(
  'the file is always whole JSON while many writes happen; a leftover temp file is ignored',
  async (t) => {
    const path = checkpointPath()
    writeFileSync(`${path}.tmp`, '{"version":1,"li')
    t.equal(await FileCheckpoint.load(path), undefined, 'only a temp file: no checkpoint')
    const checkpoint = new FileCheckpoint(path, { everyRows: 1, everyMs: Infinity })
    const messages = trackAll(checkpoint, 300)
    const state = { writing: true }
    let reads = 0
    let last = 0
    let backwards = 0
    const reader = (async () => {
      while (state.writing) {
        let text: string
        try {
          text = await readFile(path, 'utf8')
        } catch {
          await tick()
          continue
        }
        const data = JSON.parse(text) as { line: number }
        if (data.line < last) backwards++
        last = data.line
        reads++
      }
    })()
    // Several acks while a write runs: they are merged, never two writes at once (two at once
    // would race on the temp file, and a rename would fail).
    const pending: Promise<void>[] = []
    for (const message of messages) {
      const written = checkpoint.ack([message], [])
      if (written instanceof Promise) pending.push(written)
      if (message.data % 7 === 0) await tick()
    }
    await Promise.all(pending)
    await checkpoint.close()
    state.writing = false
    await reader
    t.ok(reads > 0, `read ${String(reads)} times while writing`)
    t.equal(backwards, 0, 'the file never went back')
    t.same(await FileCheckpoint.load(path), positionOf(299))
    writeFileSync(`${path}.tmp`, 'garbage')
    t.same(await FileCheckpoint.load(path), positionOf(299), 'a temp file left by a crash is ignored')
  },
)

t.test('close writes the final checkpoint once; nothing can be tracked after it', async (t) => {
  const path = checkpointPath()
  const checkpoint = new FileCheckpoint(path)
  const { close } = checkpoint
  const messages = trackAll(checkpoint, 2)
  checkpoint.ack(messages, [])
  t.notOk(existsSync(path))
  const first = close()
  t.equal(checkpoint.close(), first, 'idempotent')
  await first
  t.same(await FileCheckpoint.load(path), positionOf(1))
  t.throws(() => checkpoint.track(positionOf(2)), CheckpointError)
  const empty = checkpointPath()
  await new FileCheckpoint(empty).close()
  t.notOk(existsSync(empty), 'nothing acked: nothing written')
})

t.test('a failed write rejects flush and close with a CheckpointError, and is retried', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'streamway-ckpt-'))
  const path = join(dir, 'missing-dir', 'import.ckpt')
  const checkpoint = new FileCheckpoint(path, { everyRows: 1, everyMs: Infinity })
  const messages = trackAll(checkpoint, 2)
  await t.rejects(Promise.resolve(checkpoint.ack([messages[0]!], [])), { code: 'SW_ERR_CHECKPOINT' })
  await t.rejects(checkpoint.flush(), CheckpointError)
  t.equal(checkpoint.persisted, undefined)
  // The directory appears: the next write succeeds.
  const { mkdirSync } = await import('node:fs')
  mkdirSync(join(dir, 'missing-dir'))
  checkpoint.ack([messages[1]!], [])?.catch(() => undefined)
  await checkpoint.close()
  t.same(await FileCheckpoint.load(path), positionOf(1))
})

// ─── Load ─────────────────────────────────────────────────────────────────────────────────────────

t.test('load: missing, corrupt, wrong version, another file', async (t) => {
  const path = checkpointPath()
  t.equal(await FileCheckpoint.load(path), undefined, 'missing file')
  writeFileSync(path, '{"version":1,"line":3')
  await t.rejects(FileCheckpoint.load(path), { name: 'CheckpointError', message: /not valid JSON/ })
  writeFileSync(path, JSON.stringify({ version: 2, line: 1, offset: 1, updatedAt: 'x' }))
  await t.rejects(FileCheckpoint.load(path), { code: 'SW_ERR_CHECKPOINT', message: /version 1/ })
  writeFileSync(path, JSON.stringify({ version: 1, line: 1, updatedAt: 'x' }))
  await t.rejects(FileCheckpoint.load(path), CheckpointError, 'no offset')
  writeFileSync(path, JSON.stringify({ version: 1, line: 1, offset: -5, updatedAt: 'x' }))
  await t.rejects(FileCheckpoint.load(path), CheckpointError, 'negative offset')
  await t.rejects(FileCheckpoint.load(join(path, '..')), { message: /could not be read/ }, 'a directory')

  const checkpoint = new FileCheckpoint(path, { file: 'in/a.csv' })
  checkpoint.ack(trackAll(checkpoint, 1), [])
  await checkpoint.close()
  t.same(await FileCheckpoint.load(path), positionOf(0), 'no file given: no check')
  t.same(await FileCheckpoint.load(path, { file: join(process.cwd(), 'in/a.csv') }), positionOf(0))
  t.same(
    await FileCheckpoint.load(path, { file: './in/../in/a.csv' }),
    positionOf(0),
    'same file, another spelling',
  )
  await t.rejects(FileCheckpoint.load(path, { file: 'in/b.csv' }), { message: /refusing to resume/ })
  t.same(
    await FileCheckpoint.load(path, { file: 'in/b.csv' }).catch((e: unknown) => e instanceof CheckpointError),
    true,
  )
})

// ─── Memory ───────────────────────────────────────────────────────────────────────────────────────

t.test('memory is bounded by the records in flight, not by the records tracked', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath(), NO_AUTO)
  const window = 100
  const random = seededRandom(7)
  const inFlight: Message[] = []
  let maxInFlight = 0
  for (let i = 0; i < 1_000_000; i++) {
    inFlight.push(new Message(i, checkpoint.track(positionOf(i))))
    if (inFlight.length === window) {
      // Ack a random half of the window, out of order.
      const keep: Message[] = []
      const ack: Message[] = []
      for (const message of inFlight) (random() < 0.5 ? ack : keep).push(message)
      checkpoint.ack(ack.reverse(), [])
      inFlight.length = 0
      inFlight.push(...keep)
      maxInFlight = Math.max(maxInFlight, checkpoint.inFlight)
    }
  }
  checkpoint.ack(inFlight, [])
  t.same(checkpoint.position, positionOf(999_999))
  t.equal(checkpoint.inFlight, 0)
  // The oldest record in the window may wait long, but the window spans at most what is in flight
  // plus what was acked above it.
  t.ok(maxInFlight < 10_000, `window stayed small (${String(maxInFlight)})`)
  t.ok(checkpoint.windowCapacity <= 16_384, `ring of ${String(checkpoint.windowCapacity)} slots`)
  t.end()
})

t.test('the ring grows to the window and keeps out-of-order state across a growth', (t) => {
  const checkpoint = new FileCheckpoint(checkpointPath(), NO_AUTO)
  const messages = trackAll(checkpoint, 50)
  checkpoint.ack(messages.slice(1, 50), [])
  t.same(checkpoint.position, undefined)
  const more = trackAll(checkpoint, 200, 50)
  t.equal(checkpoint.inFlight, 250)
  t.ok(checkpoint.windowCapacity >= 250)
  checkpoint.ack(more.slice(0, 100), [])
  checkpoint.ack([messages[0]!], [])
  t.same(checkpoint.position, positionOf(149))
  checkpoint.ack(more.slice(100), [])
  t.same(checkpoint.position, positionOf(249))
  t.end()
})

// ─── With a pipeline ──────────────────────────────────────────────────────────────────────────────

let pipelines = 0
t.test(
  'a Pipeline run with concurrency 4 and random delays ends with the checkpoint at the last record',
  async (t) => {
    const path = checkpointPath()
    const checkpoint = new FileCheckpoint(path, { everyRows: 50, everyMs: 5 })
    const total = 2000
    let next = 0
    const stream = new Readable({
      objectMode: true,
      highWaterMark: 32,
      read() {
        if (next === total) {
          this.push(null)
          return
        }
        const i = next++
        this.push(new Message(i, { ...checkpoint.track(positionOf(i)), metadata: { line: i + 1 } }))
      },
    })
    const random = seededRandom(42)
    let violations = 0
    let deadLettered = 0
    pipelines++
    const p = new Pipeline<number>({
      name: `checkpoint-${String(process.pid)}-${String(pipelines)}`,
      logger: pino({ level: 'silent' }),
      producer: { source: { stream, close: checkpoint.close } },
      processors: { default: { concurrency: 4, maxDemand: 5 } },
      batchers: { sink: { batchSize: 20, batchTimeoutMs: 5, concurrency: 2 } },
      handleMessage: async (_, message) => {
        // The message is not acked yet: neither the checkpoint nor the file may be past it.
        const mine = positionOf(message.data).offset
        if ((checkpoint.position?.offset ?? 0) >= mine || (checkpoint.persisted?.offset ?? 0) >= mine)
          violations++
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)))
        if (message.data % 97 === 0) message.failed('bad row')
        return message.putBatcher('sink')
      },
      handleBatch: async (_, messages) => {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 4)))
        return messages
      },
      handleFailed: (messages) => {
        deadLettered += messages.length
        return messages
      },
    })
    await p.start()
    const report = await p.done
    t.equal(report.reason, 'ended')
    t.equal(report.successful + report.failed, total)
    t.equal(deadLettered, report.failed)
    t.equal(violations, 0, 'the checkpoint never passed a message in flight')
    t.same(checkpoint.position, positionOf(total - 1))
    t.equal(checkpoint.inFlight, 0)
    t.same(await FileCheckpoint.load(path), positionOf(total - 1), 'written at close')
  },
)
