import t from 'tap'
import { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { concurrentMap, type MapContext } from '../../lib/index.js'
import { collector, countingSource, range, seededRandom, settle } from '../helpers.js'

/** Resolves after `turns` turns of the event loop: a random delay with no timers. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

t.test('maps every item in order with a synchronous function', async (t) => {
  const sink = collector<number>()
  await pipeline(
    Readable.from(range(100)),
    concurrentMap((x: number) => x * 2),
    sink,
  )
  t.same(
    sink.items,
    range(100).map((x) => x * 2),
  )
})

t.test('never has more than `concurrency` calls in flight, and does reach it', async (t) => {
  const random = seededRandom(1)
  let inFlight = 0
  let peak = 0
  const map = concurrentMap(
    async (x: number) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await turns(Math.floor(random() * 5))
      inFlight--
      return x
    },
    { concurrency: 4 },
  )
  const sink = collector<number>()
  await pipeline(Readable.from(range(500)), map, sink)
  t.equal(peak, 4)
  t.equal(sink.items.length, 500)
})

t.test('keeps input order under random delays when ordered', async (t) => {
  const random = seededRandom(2)
  const sink = collector<number>()
  await pipeline(
    Readable.from(range(1000)),
    concurrentMap(
      async (x: number) => {
        await turns(Math.floor(random() * 8))
        return x
      },
      { concurrency: 8 },
    ),
    sink,
  )
  t.same(sink.items, range(1000))
})

t.test('delivers every item exactly once when unordered, without waiting for a slow item', async (t) => {
  const random = seededRandom(3)
  const sink = collector<number>()
  await pipeline(
    Readable.from(range(1000)),
    concurrentMap(
      async (x: number) => {
        // Item 0 is much slower than the rest: unordered mode must not hold the others behind it.
        await turns(x === 0 ? 60 : Math.floor(random() * 8))
        return x
      },
      { concurrency: 8, ordered: false },
    ),
    sink,
  )
  t.same(
    [...sink.items].sort((a, b) => a - b),
    range(1000),
  )
  t.not(sink.items[0], 0, 'the slow first item did not come out first')
  t.notSame(sink.items, range(1000), 'results came out of input order')
})

t.test('gives the same output for a synchronous and an asynchronous function', async (t) => {
  const fn = (x: number) => (x % 3 === 0 ? null : x * x)
  const syncSink = collector<number>()
  const asyncSink = collector<number>()
  const mixedSink = collector<number>()
  await pipeline(Readable.from(range(300)), concurrentMap(fn, { concurrency: 3 }), syncSink)
  await pipeline(
    Readable.from(range(300)),
    concurrentMap((x: number) => Promise.resolve(fn(x)), { concurrency: 3 }),
    asyncSink,
  )
  // Mixed: sync results must wait behind async ones still in flight.
  await pipeline(
    Readable.from(range(300)),
    concurrentMap((x: number) => (x % 2 === 0 ? Promise.resolve(fn(x)) : fn(x)), { concurrency: 3 }),
    mixedSink,
  )
  const expected = range(300)
    .filter((x) => x % 3 !== 0)
    .map((x) => x * x)
  t.same(syncSink.items, expected)
  t.same(asyncSink.items, expected)
  t.same(mixedSink.items, expected)
})

t.test('a rejection destroys the stream with that error and aborts calls in flight', async (t) => {
  const boom = new Error('boom')
  const signals: AbortSignal[] = []
  const map = concurrentMap(
    async (x: number, { signal }: MapContext) => {
      signals.push(signal)
      await turns(x === 5 ? 1 : 20)
      if (x === 5) throw boom
      return x
    },
    { concurrency: 8 },
  )
  await t.rejects(pipeline(Readable.from(range(100)), map, collector()), boom)
  t.ok(map.destroyed)
  t.ok(signals.length > 1)
  t.ok(
    signals.every((s) => s.aborted),
    'every call saw its signal aborted',
  )
})

t.test('a synchronous throw destroys the stream with that error', async (t) => {
  const boom = new Error('sync boom')
  await t.rejects(
    pipeline(
      Readable.from(range(10)),
      concurrentMap((x: number) => {
        if (x === 3) throw boom
        return x
      }),
      collector(),
    ),
    boom,
  )
})

t.test('aborting the signal destroys the stream with SW_ERR_ABORTED and the reason as cause', async (t) => {
  const controller = new AbortController()
  const map = concurrentMap(
    async (x: number) => {
      if (x === 10) controller.abort(new Error('stop now'))
      await turns(1)
      return x
    },
    { concurrency: 2, signal: controller.signal },
  )
  const error = await pipeline(Readable.from(range(100)), map, collector()).then(
    () => null,
    (e: unknown) => e,
  )
  t.match(error, { code: 'SW_ERR_ABORTED', name: 'AbortError', cause: { message: 'stop now' } })
})

t.test('an already aborted signal destroys the stream at once', async (t) => {
  const map = concurrentMap((x: number) => x, { signal: AbortSignal.abort() })
  await t.rejects(pipeline(Readable.from(range(10)), map, collector()), { code: 'SW_ERR_ABORTED' })
})

t.test('passes data through third-party streams in a pipeline', async (t) => {
  const sink = collector<string>()
  const upper = new Transform({
    objectMode: true,
    transform(chunk: string, _encoding, callback) {
      callback(null, chunk.toUpperCase())
    },
  })
  await pipeline(
    Readable.from(['a', 'b', 'c']),
    concurrentMap((s: string) => Promise.resolve(`${s}!`)),
    upper,
    sink,
  )
  t.same(sink.items, ['A!', 'B!', 'C!'])
})

// Backpressure: with nobody reading the output, the source is read a bounded number of times.
// Documented bound of the map: 2 × highWaterMark + concurrency items; the source itself buffers
// its own highWaterMark, and pipe() holds one more item in hand.
for (const mode of ['sync', 'async ordered', 'async unordered'] as const) {
  t.test(`pulls a bounded number of items when the consumer stops reading (${mode})`, async (t) => {
    const sourceHighWaterMark = 2
    const highWaterMark = 4
    const concurrency = 3
    const source = countingSource(range(10_000), sourceHighWaterMark)
    const map = concurrentMap((x: number) => (mode === 'sync' ? x : Promise.resolve(x)), {
      concurrency,
      highWaterMark,
      ordered: mode !== 'async unordered',
    })
    source.pipe(map) // nobody reads `map`
    await settle(20)
    const bound = sourceHighWaterMark + 2 * highWaterMark + concurrency + 1
    t.ok(source.reads <= bound, `source read ${source.reads} ≤ ${bound}`)
    t.ok(source.reads >= highWaterMark, `source read ${source.reads}: the map did take items`)
    t.ok(map.inFlight <= concurrency)
    // Reading resumes the flow and loses nothing.
    const sink = collector<number>()
    await pipeline(map, sink)
    t.same(sink.items, range(10_000))
  })
}

t.test(
  'a slow head in ordered mode holds at most highWaterMark + concurrency - 1 finished results',
  async (t) => {
    const release: (() => void)[] = []
    let started = 0
    const map = concurrentMap(
      (x: number) => {
        started++
        return x === 0
          ? new Promise<number>((resolve) =>
              release.push(() => {
                resolve(0)
              }),
            )
          : x
      },
      { concurrency: 4, highWaterMark: 3 },
    )
    const source = countingSource(range(1000), 1)
    source.pipe(map)
    await settle(20)
    t.ok(started <= 3 + 4, `started ${started} calls while the head was stuck`)
    t.equal(map.readableLength, 0, 'nothing was emitted ahead of the head')
    release.forEach((fn) => {
      fn()
    })
    const sink = collector<number>()
    await pipeline(map, sink)
    t.same(sink.items, range(1000))
  },
)

t.test('every invalid option fails with SW_ERR_INVALID_OPTION naming the option', (t) => {
  const cases: [unknown, string][] = [
    [{ concurrency: 0 }, '`options.concurrency` must be an integer ≥ 1, got 0'],
    [{ concurrency: 1.5 }, '`options.concurrency` must be an integer ≥ 1, got 1.5'],
    [{ concurrency: '4' }, '`options.concurrency` must be an integer ≥ 1, got "4"'],
    [{ ordered: 'yes' }, '`options.ordered` must be a boolean, got "yes"'],
    [{ highWaterMark: 0 }, '`options.highWaterMark` must be an integer ≥ 1, got 0'],
    [{ signal: {} }, '`options.signal` must be an AbortSignal, got an object'],
    [{ concurency: 2 }, '`options.concurency` is not an option'],
    [7, '`options` must be an object, got 7'],
  ]
  for (const [options, message] of cases) {
    t.throws(
      () => concurrentMap((x) => x, options as never),
      { code: 'SW_ERR_INVALID_OPTION', message },
      message,
    )
  }
  t.throws(() => concurrentMap('nope' as never), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`fn` must be a function, got "nope"',
  })
  t.end()
})

t.test('exposes its validated options, frozen and defaulted', (t) => {
  const map = concurrentMap((x: number) => x, { concurrency: 5 })
  t.same({ ...map.options }, { concurrency: 5, ordered: true, highWaterMark: 16 })
  t.ok(Object.isFrozen(map.options))
  t.end()
})

for (const [highWaterMark, concurrency] of [
  [16, 2],
  [4, 4],
  [1, 3],
] as const) {
  t.test(
    `calls in flight plus unread results stay ≤ highWaterMark + concurrency (${highWaterMark}, ${concurrency})`,
    async (t) => {
      const random = seededRandom(highWaterMark * 10 + concurrency)
      let started = 0
      let delivered = 0
      let peak = 0
      const map = concurrentMap(
        (x: number) => {
          started++
          // Every 7th call is slow: the ordered FIFO fills behind it while downstream keeps asking.
          return x % 7 === 0 ? turns(1 + Math.floor(random() * 6)).then(() => x) : x
        },
        { concurrency, highWaterMark },
      )
      const slowReader = new Writable({
        objectMode: true,
        highWaterMark: 1,
        write(_item: number, _encoding, callback) {
          delivered++
          peak = Math.max(peak, started - delivered)
          void turns(Math.floor(random() * 3)).then(() => {
            callback()
          })
        },
      })
      await pipeline(Readable.from(range(2000)), map, slowReader)
      t.equal(delivered, 2000)
      // The sink holds one item in hand beyond the map's bound.
      t.ok(peak <= highWaterMark + concurrency + 1, `peak ${peak} ≤ ${highWaterMark + concurrency + 1}`)
    },
  )
}

t.test('a thrown non-Error becomes an Error with the value as cause', async (t) => {
  const thrown = { reason: 'not an error' }
  const sync = concurrentMap(() => {
    throw thrown as unknown as Error
  })
  const rejected = concurrentMap(() => Promise.reject(thrown as unknown as Error))
  for (const map of [sync, rejected]) {
    const error = await pipeline(Readable.from([1]), map, collector()).then(
      () => null,
      (e: unknown) => e,
    )
    t.ok(error instanceof Error)
    t.equal((error as Error).cause, thrown)
  }
})

t.test('the signal of a call is not aborted when the stream simply finishes', async (t) => {
  const signals: AbortSignal[] = []
  await pipeline(
    Readable.from(range(5)),
    concurrentMap((x: number, { signal }: MapContext) => {
      signals.push(signal)
      return x
    }),
    collector(),
  )
  t.equal(signals.length, 5)
  t.notOk(signals[0]?.aborted)
})
