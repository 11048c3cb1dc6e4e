import t from 'tap'
import FakeTimers from '@sinonjs/fake-timers'
import fc from 'fast-check'
import { Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { rateLimit, type RateLimiter } from '../../lib/index.js'
import { collector, countingSource, range, settle } from '../helpers.js'

type InstalledClock = ReturnType<typeof FakeTimers.install>

/** A fake clock for `setTimeout` and `Date` only: `setImmediate` and `nextTick` stay real so streams run. */
function installClock(): InstalledClock {
  return FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
}

function fakeClock(t: { teardown(fn: () => void): void }): InstalledClock {
  const clock = installClock()
  t.teardown(() => {
    clock.uninstall()
  })
  return clock
}

/** A sink that records the fake time at which each item reached it. */
function timedSink<T>(): Writable & { got: { item: T; at: number }[] } {
  const got: { item: T; at: number }[] = []
  const sink = new Writable({
    objectMode: true,
    write(item: T, _encoding, callback) {
      got.push({ item, at: Date.now() })
      callback()
    },
  })
  return Object.assign(sink, { got })
}

/** Lets the streams settle, then jumps to the next timer, until `done()`; fails if nothing is left to wait for. */
async function runClock(clock: InstalledClock, done: () => boolean): Promise<void> {
  for (;;) {
    await settle(10)
    if (done()) return
    if (clock.countTimers() === 0) throw new Error(`stuck at ${clock.now} ms: nothing to wait for`)
    clock.next()
  }
}

/** Items per window `floor(at / intervalMs)`; windows start at 0 because the clock does and the source is fast. */
function perWindow(times: number[], intervalMs: number): Map<number, number> {
  const counts = new Map<number, number>()
  for (const at of times) {
    const window = Math.floor(at / intervalMs)
    counts.set(window, (counts.get(window) ?? 0) + 1)
  }
  return counts
}

/**
 * With a fast source every window is used to the full, so the i-th item passes in window
 * `floor(i / allowedMessages)`, right at its start: this is the time the limit implies.
 */
function checkSchedule(times: number[], allowedMessages: number, intervalMs: number): void {
  for (const [window, count] of perWindow(times, intervalMs))
    if (count > allowedMessages)
      throw new Error(`${count} items in window ${window}, limit ${allowedMessages}`)
  const sorted = [...times].sort((a, b) => a - b)
  sorted.forEach((at, i) => {
    const expected = Math.floor(i / allowedMessages) * intervalMs
    if (at !== expected) throw new Error(`item ${i} passed at ${at} ms, expected ${expected} ms`)
  })
}

t.test('never lets more than allowedMessages items through per window (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 16 }),
      async (allowedMessages, intervalMs, n, sourceHwm, hwm) => {
        const clock = installClock()
        try {
          const limiter = rateLimit({ allowedMessages, intervalMs })
          const sink = timedSink<number>()
          let finished = false
          const done = pipeline(
            countingSource(range(n), sourceHwm),
            limiter.stream({ highWaterMark: hwm }),
            sink,
          )
          void done.then(() => (finished = true))
          await runClock(clock, () => finished)
          await done
          if (JSON.stringify(sink.got.map((g) => g.item)) !== JSON.stringify(range(n)))
            throw new Error('items lost or out of order')
          checkSchedule(
            sink.got.map((g) => g.at),
            allowedMessages,
            intervalMs,
          )
          const total = n === 0 ? 0 : Math.floor((n - 1) / allowedMessages) * intervalMs
          if (clock.now !== total) throw new Error(`took ${clock.now} ms, the limit implies ${total} ms`)
          if (clock.countTimers() !== 0) throw new Error('a timer is left running')
        } finally {
          clock.uninstall()
        }
      },
    ),
    { numRuns: 60 },
  )
  t.pass('property held')
})

t.test('two streams from one limiter share its budget (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      async (allowedMessages, intervalMs, n1, n2) => {
        const clock = installClock()
        try {
          const limiter = rateLimit({ allowedMessages, intervalMs })
          const sinks = [timedSink<number>(), timedSink<number>()] as const
          let finished = 0
          const done = [n1, n2].map((n, i) =>
            pipeline(countingSource(range(n)), limiter.stream(), sinks[i]!).then(() => finished++),
          )
          await runClock(clock, () => finished === 2)
          await Promise.all(done)
          if (sinks[0].got.length !== n1 || sinks[1].got.length !== n2) throw new Error('items lost')
          checkSchedule(
            [...sinks[0].got, ...sinks[1].got].map((g) => g.at),
            allowedMessages,
            intervalMs,
          )
          if (clock.countTimers() !== 0) throw new Error('a timer is left running')
        } finally {
          clock.uninstall()
        }
      },
    ),
    { numRuns: 60 },
  )
  t.pass('property held')
})

/** Writes `items` to `stream` and returns the items that came out, as they come. */
function feed(stream: Transform, items: number[]): number[] {
  const out: number[] = []
  stream.on('data', (item: number) => out.push(item))
  for (const item of items) stream.write(item)
  return out
}

t.test('leaves no timer running once every waiting item has passed', async (t) => {
  t.plan(3)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 10, intervalMs: 1000 })
  // a1–a10 use the first window; a11 waits, then b1 waits behind it, a12 and b2 queue behind them.
  const a = feed(limiter.stream(), range(12))
  const b = feed(limiter.stream(), [100, 101])
  await settle()
  t.same([a.length, b.length], [10, 0])
  clock.tick(1000)
  await settle()
  t.same([a.length, b.length], [12, 2], 'the second window has room for all four')
  // A timer left here would keep the process alive for up to intervalMs with nothing to do.
  t.equal(clock.countTimers(), 0, 'an idle limiter runs no timer')
})

t.test('update({ allowedMessages }) takes effect at the next window, not the current one', async (t) => {
  t.plan(5)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  const out = feed(limiter.stream(), range(10))
  await settle()
  t.equal(out.length, 2, 'the first window lets 2 through')
  limiter.update({ allowedMessages: 5 })
  await settle()
  clock.tick(999)
  await settle()
  t.equal(out.length, 2, 'the raised limit does not refill the current window')
  clock.tick(1)
  await settle()
  t.equal(out.length, 7, 'the next window lets 5 through')
  clock.tick(1000)
  await settle()
  t.same(out, range(10))
  t.equal(clock.countTimers(), 0)
})

t.test('a raised limit does not add tokens to a window that still has some', async (t) => {
  t.plan(2)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 3, intervalMs: 1000 })
  const stream = limiter.stream()
  const out = feed(stream, [0])
  await settle()
  limiter.update({ allowedMessages: 10 })
  t.equal(limiter.get().remaining, 2, '3 - 1 left, not 10 - 1')
  for (const item of range(5)) stream.write(item + 1)
  await settle()
  t.equal(out.length, 3, 'only the old budget passes in this window')
  clock.tick(1000)
  await settle()
})

t.test('update({ intervalMs }) takes effect at the next window', async (t) => {
  t.plan(3)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 1, intervalMs: 1000 })
  const out = feed(limiter.stream(), range(3))
  await settle()
  limiter.update({ intervalMs: 100 })
  clock.tick(999)
  await settle()
  t.equal(out.length, 1, 'the current window keeps its 1000 ms')
  clock.tick(1)
  await settle()
  t.equal(out.length, 2, 'the next window starts at 1000 ms')
  clock.tick(100)
  await settle()
  t.equal(out.length, 3, 'and lasts the new 100 ms')
})

t.test('update({ ..., reset: true }) starts a new window with the full new budget at once', async (t) => {
  t.plan(6)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  const out = feed(limiter.stream(), range(10))
  await settle()
  t.equal(out.length, 2)
  clock.tick(500)
  limiter.update({ allowedMessages: 3, reset: true })
  await settle()
  t.equal(out.length, 5, 'the waiting items get the new budget of 3 at once')
  t.same(limiter.get(), { allowedMessages: 3, intervalMs: 1000, remaining: 0 })
  clock.tick(999)
  await settle()
  t.equal(out.length, 5, 'the new window started at the reset (500 ms), so it ends at 1500 ms')
  clock.tick(1)
  await settle()
  t.equal(out.length, 8)
  clock.tick(1000)
  await settle()
  t.same(out, range(10))
})

t.test('update with reset and no waiting items gives a full new window', async (t) => {
  t.plan(3)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  const out = feed(limiter.stream(), range(2))
  await settle()
  t.equal(limiter.get().remaining, 0)
  clock.tick(10)
  limiter.update({ allowedMessages: 4, intervalMs: 500, reset: true })
  t.same(limiter.get(), { allowedMessages: 4, intervalMs: 500, remaining: 4 })
  t.equal(out.length, 2)
})

t.test('get() returns the settings and the tokens remaining in the window', async (t) => {
  t.plan(6)
  const clock = fakeClock(t)
  const limiter: RateLimiter = rateLimit({ allowedMessages: 3, intervalMs: 1000 })
  t.same(limiter.get(), { allowedMessages: 3, intervalMs: 1000, remaining: 3 }, 'a fresh limiter')
  t.ok(Object.isFrozen(limiter.get()))
  feed(limiter.stream(), range(2))
  await settle()
  t.same(limiter.get(), { allowedMessages: 3, intervalMs: 1000, remaining: 1 })
  limiter.update({ allowedMessages: 7, intervalMs: 2000 })
  t.same(
    limiter.get(),
    { allowedMessages: 7, intervalMs: 2000, remaining: 1 },
    'the new settings, the current window`s tokens',
  )
  clock.tick(1000)
  t.same(
    limiter.get(),
    { allowedMessages: 7, intervalMs: 2000, remaining: 7 },
    'a new window has the new budget',
  )
  t.equal(clock.countTimers(), 0)
})

t.test('get() does not start a window: windows start when an item arrives', async (t) => {
  t.plan(2)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  limiter.get()
  clock.tick(900)
  const sink = timedSink<number>()
  const stream = limiter.stream()
  stream.pipe(sink)
  for (const item of range(3)) stream.write(item)
  await runClock(clock, () => sink.got.length === 3)
  // Had get() opened a window at 0, the third item would pass at 1000 ms.
  t.same(
    sink.got.map((g) => g.at),
    [900, 900, 1900],
  )
  t.equal(clock.countTimers(), 0)
})

t.test('an item waiting for a token holds the write, so the source stops', async (t) => {
  t.plan(4)
  const clock = fakeClock(t)
  const [allowedMessages, sourceHwm, hwm] = [3, 8, 4]
  const limiter = rateLimit({ allowedMessages, intervalMs: 1000 })
  const source = countingSource(range(10_000), sourceHwm)
  const sink = collector<number>()
  const done = pipeline(source, limiter.stream({ highWaterMark: hwm }), sink)
  await settle(20)
  // The items that passed, then `hwm` on the writable side (the waiting one among them), then the
  // source's own buffer. The fast sink keeps the readable side empty.
  const bound = allowedMessages + hwm + sourceHwm
  t.equal(sink.items.length, allowedMessages)
  t.ok(source.reads <= bound, `read ${source.reads} items, bound ${bound}`)
  clock.tick(1000)
  await settle(20)
  t.ok(source.reads <= bound + allowedMessages, 'each window lets in only its budget')
  t.equal(sink.items.length, 2 * allowedMessages)
  source.destroy()
  await done.catch(() => undefined)
})

t.test(
  'destroying a stream while it waits for a token leaks no waiter and throws nothing later',
  async (t) => {
    t.plan(6)
    const clock = fakeClock(t)
    const limiter = rateLimit({ allowedMessages: 1, intervalMs: 1000 })
    const doomed = limiter.stream()
    const errors: unknown[] = []
    doomed.on('error', (error) => errors.push(error))
    const out = feed(doomed, [1, 2, 3])
    await settle()
    t.same(out, [1], 'item 2 waits for a token')
    doomed.destroy()
    await settle()
    t.equal(clock.countTimers(), 0, 'with no item left waiting, the limiter stops its timer')
    clock.tick(1000)
    await settle()
    t.same(out, [1], 'the destroyed stream gets nothing more')
    t.same(errors, [], 'and no error')
    // The destroyed stream's waiter does not take the next window's token.
    const next = feed(limiter.stream(), [10])
    await settle()
    t.same(next, [10], 'a live stream gets the token at once')
    t.equal(limiter.get().remaining, 0)
  },
)

t.test('destroying one of two waiting streams lets the other one through on time', async (t) => {
  t.plan(3)
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 1, intervalMs: 1000 })
  const doomed = limiter.stream()
  const live = limiter.stream()
  const doomedOut = feed(doomed, [1, 2])
  const liveOut = feed(live, [10, 11])
  await settle()
  doomed.destroy()
  await settle()
  t.equal(clock.countTimers(), 1, 'live still waits, so the timer stays')
  clock.tick(1000)
  await settle()
  t.same([doomedOut, liveOut], [[1], [10]], "the destroyed stream's turn goes to the live one")
  clock.tick(1000)
  await settle()
  t.same(liveOut, [10, 11])
})

t.test('rejects each invalid option with SW_ERR_INVALID_OPTION naming the option', (t) => {
  const valid = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  const cases: [string, () => unknown, string][] = [
    [
      'allowedMessages 0',
      () => rateLimit({ allowedMessages: 0, intervalMs: 1000 }),
      '`options.allowedMessages` must be an integer ≥ 1, got 0',
    ],
    [
      'intervalMs -1',
      () => rateLimit({ allowedMessages: 1, intervalMs: -1 }),
      '`options.intervalMs` must be an integer ≥ 1',
    ],
    [
      // setTimeout turns a longer delay into 1 ms: the limiter would wake every millisecond.
      'intervalMs beyond setTimeout',
      () => rateLimit({ allowedMessages: 1, intervalMs: 2 ** 31 }),
      '`options.intervalMs` must be an integer ≥ 1 and ≤ 2147483647, got 2147483648',
    ],
    ['no options', () => rateLimit(undefined as never), '`options.allowedMessages` must be an integer ≥ 1'],
    [
      'missing intervalMs',
      () => rateLimit({ allowedMessages: 1 } as never),
      '`options.intervalMs` must be an integer ≥ 1',
    ],
    [
      'unknown option',
      () => rateLimit({ allowedMessages: 1, intervalMs: 1000, allowed: 5 } as never),
      '`options.allowed` is not an option',
    ],
    [
      'update with allowedMessages "x"',
      () => {
        valid.update({ allowedMessages: 'x' as never })
      },
      '`update.allowedMessages` must be an integer ≥ 1, got "x"',
    ],
    [
      'update with intervalMs beyond setTimeout',
      () => {
        valid.update({ intervalMs: 2 ** 31 })
      },
      '`update.intervalMs` must be an integer ≥ 1 and ≤ 2147483647',
    ],
    [
      'update with an unknown key',
      () => {
        valid.update({ rest: true } as never)
      },
      '`update.rest` is not an option',
    ],
    [
      'stream highWaterMark 0',
      () => valid.stream({ highWaterMark: 0 }),
      '`options.highWaterMark` must be an integer ≥ 1, got 0',
    ],
  ]
  t.plan(cases.length + 1)
  for (const [name, build, message] of cases) {
    t.throws(
      build,
      {
        code: 'SW_ERR_INVALID_OPTION',
        name: 'InvalidOptionError',
        message: new RegExp(`^${escape(message)}`),
      },
      name,
    )
  }
  t.same(
    valid.get(),
    { allowedMessages: 2, intervalMs: 1000, remaining: 2 },
    'the rejected updates changed nothing',
  )
})

/** Escapes `text` for use in a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

t.test('tryTake takes tokens until the window is spent, then again in the next window', (t) => {
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 2, intervalMs: 1000 })
  t.same([limiter.tryTake(), limiter.tryTake(), limiter.tryTake()], [true, true, false])
  clock.tick(999)
  t.notOk(limiter.tryTake(), 'still the same window')
  clock.tick(1)
  t.ok(limiter.tryTake(), 'a new window')
  t.end()
})

t.test('whenAvailable runs waiters in arrival order as windows open, and a cancelled one never', (t) => {
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 1, intervalMs: 100 })
  const ran: string[] = []
  limiter.whenAvailable(() => ran.push('a'))
  limiter.whenAvailable(() => ran.push('b'))
  const cancelC = limiter.whenAvailable(() => ran.push('c'))
  limiter.whenAvailable(() => ran.push('d'))
  t.same(ran, ['a'], 'the first runs at once')
  cancelC()
  clock.tick(100)
  t.same(ran, ['a', 'b'])
  clock.tick(100)
  t.same(ran, ['a', 'b', 'd'], 'c was cancelled and took no token')
  t.equal(clock.countTimers(), 0, 'no timer left once nobody waits')
  t.end()
})

t.test('takeUpTo takes what the window has left, none while others wait, and refills next window', (t) => {
  const clock = fakeClock(t)
  const limiter = rateLimit({ allowedMessages: 10, intervalMs: 1000 })
  t.equal(limiter.takeUpTo(4), 4, 'takes all it asks for when the window has them')
  t.equal(limiter.takeUpTo(20), 6, 'takes only what is left')
  t.equal(limiter.takeUpTo(1), 0, 'a spent window gives nothing')
  let served = false
  limiter.whenAvailable(() => {
    served = true
  })
  clock.tick(1000)
  t.ok(served, 'the waiter got the first token of the next window')
  t.equal(limiter.takeUpTo(100), 9, 'then the rest of that window')
  t.end()
})
