import t from 'tap'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { concurrentMap, merge, partitionBy, partitionOf } from '../../lib/index.js'
import { collector, countingSource, range, seededRandom, settle } from '../helpers.js'

interface Event {
  key: number
  seq: number
}

t.test('partitionOf routes integers by modulo, also negative ones and bigints', (t) => {
  t.equal(partitionOf(0, 4), 0)
  t.equal(partitionOf(7, 4), 3)
  t.equal(partitionOf(-1, 4), 3)
  t.equal(partitionOf(10n, 4), 2)
  t.equal(partitionOf(-3n, 4), 1)
  t.end()
})

t.test('partitionOf hashes strings with 32-bit FNV-1a, stable across runs', (t) => {
  // Published FNV-1a test vectors.
  t.equal(partitionOf('a', 2 ** 32 - 1), 0xe40c292c % (2 ** 32 - 1))
  t.equal(partitionOf('foobar', 1000), 0xbf9cf968 % 1000)
  t.equal(partitionOf('customer-42', 8), partitionOf('customer-42', 8))
  t.equal(partitionOf(true, 3), partitionOf('true', 3), 'booleans hash by their text')
  t.equal(partitionOf(1.5, 3), partitionOf('1.5', 3), 'non-integer numbers hash by their text')
  t.throws(() => partitionOf({}, 3), { code: 'SW_ERR_INVALID_PARTITION_KEY' })
  t.throws(() => partitionOf(undefined, 3), { code: 'SW_ERR_INVALID_PARTITION_KEY' })
  t.throws(() => partitionOf(1, 0), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`partitions` must be an integer ≥ 1, got 0',
  })
  t.throws(() => partitionOf(1n, 1.5), { code: 'SW_ERR_INVALID_OPTION' })
  t.end()
})

t.test('every item reaches exactly one lane, the lane of its key', async (t) => {
  const router = partitionBy((n: number) => n, { partitions: 3 })
  const sinks = router.lanes.map(() => collector<number>())
  await Promise.all([
    pipeline(Readable.from(range(300)), router),
    ...router.lanes.map((lane, i) => pipeline(lane, sinks[i]!)),
  ])
  sinks.forEach((sink, i) => {
    t.same(
      sink.items,
      range(300).filter((n) => n % 3 === i),
    )
  })
})

t.test('keeps per-key order across lanes under random delays, every item exactly once', async (t) => {
  const random = seededRandom(7)
  const keys = 16
  const events: Event[] = range(4000).map((i) => ({ key: Math.floor(random() * keys), seq: i }))
  const router = partitionBy((e: Event) => e.key, { partitions: 4, highWaterMark: 4 })
  const tails = router.lanes.map((lane) =>
    lane.pipe(
      concurrentMap(
        async (e: Event) => {
          for (let i = Math.floor(random() * 4); i > 0; i--) await new Promise((r) => setImmediate(r))
          return e
        },
        { concurrency: 4 },
      ),
    ),
  )
  const sink = collector<Event>()
  await Promise.all([pipeline(Readable.from(events), router), pipeline(merge(tails), sink)])
  t.equal(sink.items.length, events.length)
  t.same(
    sink.items.map((e) => e.seq).sort((a, b) => a - b),
    range(4000),
    'each item exactly once',
  )
  const last = new Map<number, number>()
  let inOrder = true
  for (const e of sink.items) {
    if ((last.get(e.key) ?? -1) > e.seq) inOrder = false
    last.set(e.key, e.seq)
  }
  t.ok(inOrder, 'per-key order held')
  t.notSame(
    sink.items.map((e) => e.seq),
    range(4000),
    'lanes did interleave (the test can see disorder)',
  )
})

t.test('stops pulling from the source when a lane is not read', async (t) => {
  const sourceHighWaterMark = 2
  const highWaterMark = 3
  const source = countingSource(range(1000), sourceHighWaterMark)
  const router = partitionBy((n: number) => n, { partitions: 2, highWaterMark })
  source.pipe(router) // no lane is read
  await settle(20)
  // Documented bound: router buffer + every lane's buffer, plus the source's own and the item in hand.
  const bound = sourceHighWaterMark + highWaterMark + 2 * highWaterMark + 1
  t.ok(source.reads <= bound, `source read ${source.reads} ≤ ${bound}`)
  t.ok(source.reads >= 2 * highWaterMark, 'lanes did fill')
  // Torn down before it finished, the router fails its lanes: their readers must not wait forever.
  const laneErrors = router.lanes.map((lane) => new Promise((resolve) => lane.once('error', resolve)))
  router.destroy()
  for (const error of await Promise.all(laneErrors)) t.match(error, { code: 'SW_ERR_PREMATURE_CLOSE' })
})

t.test('a slow lane stalls the others once its buffer is full (documented behaviour)', async (t) => {
  const highWaterMark = 4
  const router = partitionBy((n: number) => n, { partitions: 2, highWaterMark })
  const fast = collector<number>()
  const source = countingSource(range(1000), 1)
  source.pipe(router)
  router.lanes[1]!.pipe(fast) // lane 0 is never read
  await settle(20)
  // Lane 0 held highWaterMark items, so the router stopped; lane 1 got only what came before.
  t.ok(fast.items.length <= highWaterMark + 2, `fast lane got ${fast.items.length} items, then waited`)
  t.ok(source.reads < 20)
  // Reading the slow lane releases everything.
  const slow = collector<number>()
  await Promise.all([pipeline(router.lanes[0]!, slow), new Promise((resolve) => fast.on('finish', resolve))])
  t.equal(slow.items.length + fast.items.length, 1000)
})

t.test('an invalid key destroys the router and its lanes with SW_ERR_INVALID_PARTITION_KEY', async (t) => {
  const router = partitionBy((n: number) => (n === 3 ? { bad: true } : n), { partitions: 2 })
  const lanes = router.lanes.map((lane) => pipeline(lane, collector()))
  await t.rejects(pipeline(Readable.from(range(10)), router), { code: 'SW_ERR_INVALID_PARTITION_KEY' })
  const results = await Promise.allSettled(lanes)
  t.ok(
    results.every((r) => r.status === 'rejected'),
    'lanes were torn down too',
  )
})

t.test('a lane torn down by its consumer tears down the router', async (t) => {
  const router = partitionBy((n: number) => n, { partitions: 2 })
  const failing = new Writable({
    objectMode: true,
    write(_item, _encoding, callback) {
      callback(new Error('sink failed'))
    },
  })
  const done = pipeline(Readable.from(range(100)), router)
  void pipeline(router.lanes[1]!, collector()).catch(() => undefined)
  await t.rejects(pipeline(router.lanes[0]!, failing), { message: 'sink failed' })
  await t.rejects(done)
})

t.test('a lane destroyed without an error before it ended tears down the router', async (t) => {
  const router = partitionBy((n: number) => n, { partitions: 2, highWaterMark: 2 })
  const done = pipeline(countingSource(range(1000), 2), router)
  router.lanes[0]!.destroy()
  router.lanes[1]!.on('error', () => undefined)
  await t.rejects(done, { code: 'SW_ERR_PREMATURE_CLOSE' })
})

t.test('merge keeps each input in order and ends when all inputs end', async (t) => {
  const sink = collector<string>()
  await pipeline(
    merge([Readable.from(['a1', 'a2', 'a3']), Readable.from(['b1', 'b2']), Readable.from([])]),
    sink,
  )
  t.equal(sink.items.length, 5)
  t.same(
    sink.items.filter((s) => s.startsWith('a')),
    ['a1', 'a2', 'a3'],
  )
  t.same(
    sink.items.filter((s) => s.startsWith('b')),
    ['b1', 'b2'],
  )
})

t.test('merge of no inputs ends at once', async (t) => {
  const sink = collector()
  await pipeline(merge([]), sink)
  t.equal(sink.items.length, 0)
})

t.test('merge pauses its inputs when its output is not read', async (t) => {
  const highWaterMark = 5
  const a = countingSource(range(1000), 2)
  const b = countingSource(range(1000), 2)
  const merged = merge([a, b], { highWaterMark })
  merged.on('readable', () => undefined) // start it, then never read
  merged.read(0)
  await settle(20)
  const total = a.reads + b.reads
  // Output buffer + what each input buffers + one item each in hand when paused.
  t.ok(total <= highWaterMark + 2 * 2 + 2 * 2, `inputs read ${total} items`)
  merged.destroy()
})

t.test('merge fails when an input fails, and destroys the other inputs', async (t) => {
  const good = countingSource(range(1_000_000), 2)
  const bad = new Readable({
    objectMode: true,
    read() {
      this.destroy(new Error('input failed'))
    },
  })
  await t.rejects(pipeline(merge([good, bad]), collector()), { message: 'input failed' })
  t.ok(good.destroyed)
})

t.test('merge fails with SW_ERR_PREMATURE_CLOSE when an input closes before it ends', async (t) => {
  const input = new Readable({ objectMode: true, read() {} })
  const done = pipeline(merge([input]), collector())
  input.destroy()
  await t.rejects(done, { code: 'SW_ERR_PREMATURE_CLOSE' })
})

t.test('every invalid option fails with SW_ERR_INVALID_OPTION naming the option', (t) => {
  t.throws(() => partitionBy((x) => x, { partitions: 0 }), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`options.partitions` must be an integer ≥ 1, got 0',
  })
  t.throws(() => partitionBy((x) => x, {} as never), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`options.partitions` must be an integer ≥ 1, got undefined',
  })
  t.throws(() => partitionBy((x) => x, { partitions: 2, highWaterMark: -1 }), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`options.highWaterMark` must be an integer ≥ 1, got -1',
  })
  t.throws(() => partitionBy(3 as never, { partitions: 2 }), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`keyOf` must be a function, got 3',
  })
  t.throws(() => merge('x' as never), { code: 'SW_ERR_INVALID_OPTION', message: /`streams`/ })
  t.throws(() => merge([{}] as never), { code: 'SW_ERR_INVALID_OPTION', message: /`streams`/ })
  t.throws(() => merge([], { highWaterMark: 0 }), {
    code: 'SW_ERR_INVALID_OPTION',
    message: '`options.highWaterMark` must be an integer ≥ 1, got 0',
  })
  t.end()
})
