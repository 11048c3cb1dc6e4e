import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  batch,
  sizeLimit,
  type Batch,
  type Batcher,
  type BatchAccumulator,
  type BatchOptions,
} from '../../lib/index.js'
import { collector, countingSource, range, settle, stalledSink } from '../helpers.js'

/** The longest delay `setTimeout` honours; a longer one fires after 1 ms. */
const MAX_TIMEOUT = 2 ** 31 - 1

/** A fake clock for `setTimeout` and `Date` only: `setImmediate` and `nextTick` stay real so streams run. */
function fakeClock(t: { teardown(fn: () => void): void }) {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  t.teardown(() => {
    clock.uninstall()
  })
  return clock
}

/** Keeps every batch `stream` emits, in order. */
function batchesOf<T, K>(stream: Batcher<T, K>): Batch<T, K>[] {
  const batches: Batch<T, K>[] = []
  stream.on('data', (b: Batch<T, K>) => batches.push(b))
  return batches
}

/** Runs `items` through `batch(options)` to the end and returns every batch it emitted. */
async function runBatch<T, K = unknown, A = unknown>(
  items: Iterable<T>,
  options: BatchOptions<T, K, A>,
): Promise<Batch<T, K>[]> {
  const sink = collector<Batch<T, K>>()
  await pipeline(Readable.from(items), batch<T, K, A>(options), sink)
  return sink.items
}

/** `[items, trigger]` of each batch, for compact comparisons. */
function shape<T, K>(batches: Batch<T, K>[]): [T[], string][] {
  return batches.map((b) => [b.items, b.trigger])
}

/** A fake clock and a batch of size 3 (timeout 1 s) holding items 1 and 2. */
async function twoOfThree(t: { teardown(fn: () => void): void }) {
  const clock = fakeClock(t)
  const stream = batch<number>({ size: 3, timeoutMs: 1000 })
  const batches = batchesOf(stream)
  stream.write(1)
  stream.write(2)
  await settle()
  return { clock, stream, batches }
}

t.test('emits a batch as soon as size items arrived, with trigger size', async (t) => {
  t.plan(3)
  const { clock, stream, batches } = await twoOfThree(t)
  t.same(batches, [], 'nothing before the batch is full')
  stream.write(3)
  await settle()
  t.same(batches, [{ items: [1, 2, 3], key: undefined, trigger: 'size' }])
  t.equal(clock.now, 0, 'no time had to pass')
})

t.test('cuts a long input into full batches and flushes the rest at end with trigger end', async (t) => {
  const batches = await runBatch(range(10), { size: 4, timeoutMs: MAX_TIMEOUT })
  t.same(shape(batches), [
    [[0, 1, 2, 3], 'size'],
    [[4, 5, 6, 7], 'size'],
    [[8, 9], 'end'],
  ])
})

t.test('emits a partial batch exactly timeoutMs after its first item, with trigger timeout', async (t) => {
  t.plan(6)
  const clock = fakeClock(t)
  const stream = batch<number>({ size: 10, timeoutMs: 1000 })
  const batches = batchesOf(stream)
  stream.write(1)
  await settle()
  clock.tick(400)
  // A later item must not push the deadline back: the timer belongs to the batch, not the item.
  stream.write(2)
  await settle()
  t.equal(clock.countTimers(), 1, 'one timer for the open batch, not one per item')
  clock.tick(599)
  await settle()
  t.same(batches, [], 'nothing at timeoutMs - 1')
  clock.tick(1)
  await settle()
  t.same(shape(batches), [[[1, 2], 'timeout']], 'the batch goes at timeoutMs after its first item')
  t.equal(clock.countTimers(), 0, 'the timer is gone with its batch')

  // The next batch starts its own timer at its own first item.
  clock.tick(250)
  stream.write(3)
  clock.tick(999)
  await settle()
  t.equal(batches.length, 1, 'the next batch waits its own full timeoutMs')
  clock.tick(1)
  await settle()
  t.same(shape(batches), [
    [[1, 2], 'timeout'],
    [[3], 'timeout'],
  ])
})

t.test(
  'a batch that goes by size leaves its timer to the next batch, which re-arms it from its own first item',
  async (t) => {
    t.plan(7)
    const { clock, stream, batches } = await twoOfThree(t)
    t.equal(clock.countTimers(), 1, 'the open batch has a timer')
    clock.tick(500)
    stream.write(3)
    await settle()
    t.equal(clock.countTimers(), 1, 'kept, not cleared: the next batch re-arms it instead of making one')
    clock.tick(5000)
    await settle()
    t.same(shape(batches), [[[1, 2, 3], 'size']], 'fired for no batch: no timeout batch after the size batch')
    t.equal(stream.openBatches, 0)

    clock.tick(123)
    stream.write(4)
    await settle()
    t.equal(clock.countTimers(), 1, 'the same timer, re-armed')
    clock.tick(999)
    await settle()
    t.equal(batches.length, 1, 'the next batch waits its own full timeoutMs')
    clock.tick(1)
    await settle()
    t.same(shape(batches), [
      [[1, 2, 3], 'size'],
      [[4], 'timeout'],
    ])
  },
)

t.test('a timer left over from a size batch does not keep the process alive', async (t) => {
  // A real timer, in a process of its own: it exits long before the 60 s timeout would fire.
  const loader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))
  const script = [
    `import { batch } from ${JSON.stringify(new URL('../../lib/index.ts', import.meta.url).href)}`,
    'const stream = batch({ size: 2, timeoutMs: 60_000 })',
    'stream.resume()',
    'stream.write(1)',
    'stream.write(2)',
    'setImmediate(() => console.log(stream.openBatches))',
  ].join('\n')
  const started = Date.now()
  const child = spawn(
    process.execPath,
    [...(loader === undefined ? [] : [loader]), '--input-type=module', '-e', script],
    {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    },
  )
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 0)
  t.equal(out.trim(), '0', 'the batch went by size')
  t.ok(Date.now() - started < 45_000, 'exited without waiting for the 60 s timer')
})

t.test('flushes a partial batch at end of stream with trigger end and leaves no timer', async (t) => {
  t.plan(2)
  const clock = fakeClock(t)
  const stream = batch<number>({ size: 10, timeoutMs: 1000 })
  const batches = batchesOf(stream)
  stream.write(1)
  stream.end(2)
  await new Promise<void>((resolve) => stream.on('end', resolve))
  t.same(shape(batches), [[[1, 2], 'end']])
  t.equal(clock.countTimers(), 0)
})

t.test('flush() emits the open batch now with trigger flush; its timer fires for no batch', async (t) => {
  t.plan(5)
  const clock = fakeClock(t)
  const stream = batch<number>({ size: 10, timeoutMs: 1000 })
  const batches = batchesOf(stream)
  stream.write(1)
  stream.write(2)
  await settle()
  stream.flush()
  await settle()
  t.same(shape(batches), [[[1, 2], 'flush']])
  clock.tick(5000)
  await settle()
  t.equal(batches.length, 1, 'its timer fires for no batch')
  t.equal(stream.openBatches, 0)
  stream.flush()
  await settle()
  t.equal(batches.length, 1, 'flush() with nothing open emits no empty batch')
  stream.end(3)
  await new Promise<void>((resolve) => stream.on('end', resolve))
  t.same(shape(batches), [
    [[1, 2], 'flush'],
    [[3], 'end'],
  ])
})

interface Keyed {
  k: string
  v: number
}

t.test('keeps one open batch and one timer per key, and batches carry their key', async (t) => {
  t.plan(5)
  const clock = fakeClock(t)
  const stream = batch<Keyed, string>({ size: 2, timeoutMs: 1000, key: (item) => item.k })
  const batches = batchesOf(stream)
  stream.write({ k: 'a', v: 1 })
  stream.write({ k: 'b', v: 2 })
  stream.write({ k: 'c', v: 3 })
  await settle()
  t.same([stream.openBatches, clock.countTimers()], [3, 3], 'three keys: three open batches, three timers')
  stream.write({ k: 'b', v: 4 })
  stream.write({ k: 'a', v: 5 })
  await settle()
  t.same(
    batches.map((b) => [b.key, b.items.map((i) => i.v), b.trigger]),
    [
      ['b', [2, 4], 'size'],
      ['a', [1, 5], 'size'],
    ],
    'each key fills its own batch',
  )
  t.equal(stream.openBatches, 1, 'only key c is still open')
  clock.tick(1000)
  await settle()
  t.same(batches.at(-1)?.key, 'c', 'and only c times out')
  t.equal(batches.length, 3)
})

t.test('runs an independent timer per key, each from its own first item', async (t) => {
  t.plan(5)
  const clock = fakeClock(t)
  const stream = batch<Keyed, string>({ size: 10, timeoutMs: 1000, key: (item) => item.k })
  const batches = batchesOf(stream)
  const emitted = () => batches.map((b) => [b.key, b.items.map((i) => i.v), b.trigger])
  stream.write({ k: 'a', v: 1 }) // t = 0: a's timer starts
  clock.tick(300)
  stream.write({ k: 'b', v: 2 }) // t = 300: b's timer starts
  clock.tick(300)
  stream.write({ k: 'a', v: 3 }) // t = 600: joins a, does not restart its timer
  clock.tick(399)
  await settle()
  t.same(emitted(), [], 'nothing at t = 999')
  clock.tick(1)
  await settle()
  t.same(emitted(), [['a', [1, 3], 'timeout']], 'a goes at t = 1000')
  clock.tick(299)
  await settle()
  t.equal(batches.length, 1, 'b still waits at t = 1299')
  clock.tick(1)
  await settle()
  t.same(emitted(), [
    ['a', [1, 3], 'timeout'],
    ['b', [2], 'timeout'],
  ])
  t.equal(clock.countTimers(), 0)
})

t.test('flushes every open key at end of stream', async (t) => {
  const items = [
    { k: 'x', v: 1 },
    { k: 'y', v: 2 },
    { k: 'x', v: 3 },
  ]
  const batches = await runBatch(items, { size: 5, timeoutMs: MAX_TIMEOUT, key: (item: Keyed) => item.k })
  t.same(
    batches.map((b) => [b.key, b.items.map((i) => i.v), b.trigger]),
    [
      ['x', [1, 3], 'end'],
      ['y', [2], 'end'],
    ],
  )
})

interface Sized {
  id: number
  size: number
}

t.test('never exceeds a sizeLimit cap and emits every item once, in order (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc
        .integer({ min: 1, max: 100 })
        .chain((cap) =>
          fc.tuple(fc.constant(cap), fc.array(fc.integer({ min: 0, max: cap }), { maxLength: 60 })),
        ),
      async ([cap, sizes]) => {
        const items: Sized[] = sizes.map((size, id) => ({ id, size }))
        const batches = await runBatch(items, {
          accumulator: sizeLimit(cap, (i: Sized) => i.size),
          timeoutMs: MAX_TIMEOUT,
        })
        const total = (b: Batch<Sized>) => b.items.reduce((sum, i) => sum + i.size, 0)
        for (const b of batches) {
          if (b.items.length === 0) throw new Error('empty batch')
          if (total(b) > cap) throw new Error(`batch total ${total(b)} > cap ${cap}`)
        }
        const ids = batches.flatMap((b) => b.items.map((i) => i.id))
        if (JSON.stringify(ids) !== JSON.stringify(range(items.length)))
          throw new Error(`items out of order or lost: ${JSON.stringify(ids)}`)
        // A batch goes only when it is full: at the cap, or when the next item would overflow it.
        batches.slice(0, -1).forEach((b, n) => {
          const next = batches[n + 1]!.items[0]!
          if (total(b) !== cap && total(b) + next.size <= cap)
            throw new Error(`batch ${n} closed early: total ${total(b)}, next ${next.size}, cap ${cap}`)
          if (b.trigger !== 'size') throw new Error(`batch ${n} has trigger ${b.trigger}`)
        })
        const last = batches.at(-1)
        if (last !== undefined && last.trigger !== (total(last) === cap ? 'size' : 'end'))
          throw new Error(`last batch has trigger ${last.trigger} with total ${total(last)}`)
      },
    ),
  )
  t.pass('property held')
})

t.test('closes the batch after the item when the accumulator says emit after', async (t) => {
  // Closes a batch after each item marked `last`, whatever its length.
  const accumulator: BatchAccumulator<{ v: number; last?: boolean }, null> = {
    init: () => null,
    step: (item, acc) => ({ acc, emit: item.last === true ? 'after' : undefined }),
  }
  const batches = await runBatch([{ v: 1 }, { v: 2 }, { v: 3, last: true }, { v: 4, last: true }, { v: 5 }], {
    accumulator,
    timeoutMs: MAX_TIMEOUT,
  })
  t.same(
    batches.map((b) => [b.items.map((i) => i.v), b.trigger]),
    [
      [[1, 2, 3], 'size'],
      [[4], 'size'],
      [[5], 'end'],
    ],
  )
})

t.test('sizeLimit closes a batch that reaches the cap exactly, with the item in it', async (t) => {
  const batches = await runBatch([4, 6, 3, 7, 5], {
    accumulator: sizeLimit(10, (n: number) => n),
    timeoutMs: MAX_TIMEOUT,
  })
  t.same(shape(batches), [
    [[4, 6], 'size'],
    [[3, 7], 'size'],
    [[5], 'end'],
  ])
})

t.test('also caps the count with size when an accumulator is given', async (t) => {
  const batches = await runBatch([1, 1, 1, 5, 1], {
    size: 2,
    accumulator: sizeLimit(6, (n: number) => n),
    timeoutMs: MAX_TIMEOUT,
  })
  t.same(shape(batches), [
    [[1, 1], 'size'],
    [[1, 5], 'size'],
    [[1], 'end'],
  ])
})

t.test('destroys the stream with SW_ERR_BATCH_ITEM_TOO_LARGE for an item over the cap alone', async (t) => {
  t.plan(4)
  const clock = fakeClock(t)
  const big = { id: 1, size: 11 }
  // Over the cap as the first item of a batch, and after other items (it closes their batch first).
  for (const items of [[big], [{ id: 0, size: 3 }, big]]) {
    const stream = batch<Sized>({ accumulator: sizeLimit(10, (i: Sized) => i.size), timeoutMs: 1000 })
    await t.rejects(pipeline(Readable.from(items), stream, collector()), {
      code: 'SW_ERR_BATCH_ITEM_TOO_LARGE',
      name: 'BatchItemTooLargeError',
      item: big,
    })
  }
  t.equal(clock.countTimers(), 0, 'no timer left behind')
  t.equal(clock.now, 0)
})

t.test('a consumer that never reads stops the source within the documented bound (property)', async (t) => {
  // Items the batch stream can hold once its consumer stops: writableHWM items on the writable side
  // (the held write among them), `size - 1` in the open batch, and readableHWM batches on the readable
  // side, one more when an accumulator closes two batches in one write. The source holds sourceHWM.
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 1, max: 20 }),
      async (sourceHwm, hwm, size) => {
        const source = countingSource(range(100_000), sourceHwm)
        const stream = batch<number>({ size, highWaterMark: hwm, timeoutMs: MAX_TIMEOUT })
        source.pipe(stream)
        await settle(20)
        const reads = source.reads
        source.destroy()
        stream.destroy()
        const bound = sourceHwm + hwm + size * (hwm + 1)
        if (reads > bound) throw new Error(`read ${reads} items, bound ${bound}`)
        // And it did buffer up to its readable side, so the bound is not met by pulling nothing.
        if (reads < size * hwm) throw new Error(`read only ${reads} items, expected ≥ ${size * hwm}`)
        if (stream.readableLength !== hwm) throw new Error(`${stream.readableLength} batches buffered`)
      },
    ),
    { numRuns: 40 },
  )
  t.pass('property held')
})

t.test('a stalled sink stops the source within the bound plus the batches the sink holds', async (t) => {
  t.plan(3)
  const [sourceHwm, hwm, size, sinkHwm] = [8, 4, 5, 2]
  const source = countingSource(range(100_000), sourceHwm)
  const stream = batch<number>({ size, highWaterMark: hwm, timeoutMs: MAX_TIMEOUT })
  const done = pipeline(source, stream, stalledSink(sinkHwm))
  await settle(20)
  // Slack: the stalled sink has accepted `sinkHwm` batches (the stuck one and those queued behind it);
  // they are out of the batch stream, in the sink's own buffer.
  const bound = sourceHwm + hwm + size * (hwm + 1) + size * sinkHwm
  t.ok(source.reads <= bound, `read ${source.reads} items, bound ${bound}`)
  t.ok(source.reads >= size * (hwm + sinkHwm), 'the sink and the readable side did fill up')
  source.destroy()
  await t.rejects(done, { code: 'ERR_STREAM_PREMATURE_CLOSE' })
})

t.test('with keys, each open key adds at most size - 1 items to the bound', async (t) => {
  t.plan(2)
  const [sourceHwm, hwm, size, keys] = [8, 4, 5, 3]
  const source = countingSource(range(100_000), sourceHwm)
  const stream = batch<number, number>({
    size,
    highWaterMark: hwm,
    timeoutMs: MAX_TIMEOUT,
    key: (n) => n % keys,
  })
  source.pipe(stream)
  await settle(20)
  // Slack: `keys - 1` more open batches than the single one the base bound counts.
  const bound = sourceHwm + hwm + size * (hwm + 1) + (keys - 1) * (size - 1)
  t.ok(source.reads <= bound, `read ${source.reads} items, bound ${bound}`)
  t.equal(stream.readableLength, hwm)
  source.destroy()
  stream.destroy()
})

t.test('an accumulator closing two batches in one write stays within the bound', async (t) => {
  t.plan(2)
  // With a cap of 10, a 10 after a 6 closes [6] before it and [10] after it: two batches per write.
  const items = [10, ...Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? 6 : 10))]
  const [sourceHwm, hwm] = [2, 4]
  const source = countingSource(items, sourceHwm)
  const stream = batch<number>({
    accumulator: sizeLimit(10, (n: number) => n),
    highWaterMark: hwm,
    timeoutMs: MAX_TIMEOUT,
  })
  source.pipe(stream)
  await settle(20)
  const size = 1 // no batch here holds more than one item
  const bound = sourceHwm + hwm + size * (hwm + 1)
  t.ok(source.reads <= bound, `read ${source.reads} items, bound ${bound}`)
  t.ok(stream.readableLength <= hwm + 1, `${stream.readableLength} batches buffered`)
  source.destroy()
  stream.destroy()
})

t.test('rejects each invalid option with SW_ERR_INVALID_OPTION naming the option', (t) => {
  const cases: [string, unknown, string][] = [
    ['size 0', { size: 0 }, '`options.size` must be an integer ≥ 1 (or Infinity), got 0'],
    ['size 1.5', { size: 1.5 }, '`options.size` must be an integer ≥ 1 (or Infinity), got 1.5'],
    ['timeoutMs 0', { timeoutMs: 0 }, '`options.timeoutMs` must be an integer ≥ 1'],
    // setTimeout turns a longer delay into 1 ms, which would make every batch time out at once.
    [
      'timeoutMs beyond setTimeout',
      { timeoutMs: 2 ** 31 },
      '`options.timeoutMs` must be an integer ≥ 1 and ≤ 2147483647',
    ],
    ['key not a function', { key: 'id' }, '`options.key` must be a function, got "id"'],
    [
      'accumulator without step',
      { accumulator: { init: () => 0 } },
      '`options.accumulator` must be an object with `init()` and `step(item, acc)` functions',
    ],
    ['highWaterMark 0', { highWaterMark: 0 }, '`options.highWaterMark` must be an integer ≥ 1, got 0'],
    ['unknown option', { sise: 10 }, '`options.sise` is not an option'],
    ['not an object', 10, '`options` must be an object, got 10'],
  ]
  t.plan(cases.length)
  for (const [name, options, message] of cases) {
    t.throws(
      () => batch(options as never),
      {
        code: 'SW_ERR_INVALID_OPTION',
        name: 'InvalidOptionError',
        message: new RegExp(`^${escape(message)}`),
      },
      name,
    )
  }
})

t.test('rejects an invalid sizeLimit with SW_ERR_INVALID_OPTION naming the argument', (t) => {
  t.plan(2)
  t.throws(() => sizeLimit(-1, () => 1), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`sizeLimit.max` must be a finite number ≥ 0, got -1',
  })
  t.throws(() => sizeLimit(10, 'length' as never), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`sizeLimit.sizeOf` must be a function, got "length"',
  })
})

t.test('accepts Infinity for size and timeoutMs: no count cap, no timer', async (t) => {
  const clock = fakeClock(t)
  const noTimer = batch<number>({ size: 3, timeoutMs: Infinity })
  noTimer.write(1)
  t.equal(clock.countTimers(), 0, 'timeoutMs: Infinity starts no timer')
  const noCap = batch<number>({ size: Infinity, timeoutMs: 100 })
  const out = collector<Batch<number>>()
  noCap.pipe(out)
  for (const n of range(1000)) noCap.write(n)
  await clock.tickAsync(100)
  t.same(
    out.items.map((b) => [b.items.length, b.trigger]),
    [[1000, 'timeout']],
    'size: Infinity emits only on time',
  )
  noTimer.destroy()
  noCap.destroy()
})

t.test('destroys the stream with the error thrown by key', async (t) => {
  t.plan(3)
  const clock = fakeClock(t)
  const boom = new Error('bad key')
  const sink = collector<Batch<number>>()
  const stream = batch<number, number>({
    size: 10,
    timeoutMs: 1000,
    key: (n) => {
      if (n === 3) throw boom
      return n % 2
    },
  })
  await t.rejects(pipeline(Readable.from(range(10)), stream, sink), boom)
  t.same(sink.items, [], 'the open batches are dropped, not emitted')
  t.equal(clock.countTimers(), 0, 'their timers are cleared')
})

t.test('destroys the stream with the error thrown by accumulator.step', async (t) => {
  t.plan(2)
  const clock = fakeClock(t)
  const boom = new Error('bad step')
  const accumulator: BatchAccumulator<number, number> = {
    init: () => 0,
    step: (n, acc) => {
      if (n === 2) throw boom
      return { acc: acc + n }
    },
  }
  const stream = batch({ accumulator, timeoutMs: 1000 })
  await t.rejects(pipeline(Readable.from(range(5)), stream, collector()), boom)
  t.equal(clock.countTimers(), 0, 'the open batch timer is cleared')
})

/** Escapes `text` for use in a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
