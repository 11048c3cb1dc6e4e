/**
 * M1 slow sink: small records from a fast source into a sink that takes 1 ms per batch of 100, so the
 * sink sets the pace (≈ 90,000 items/s) and everything upstream must wait for it. Memory must stay
 * flat: bounded by the stages' `highWaterMark`s × chunk size, whatever N is.
 *
 * streamway: `concurrentMap(identity, c=2)` → `batch({ size: 100, timeoutMs: 1000 })` →
 * `concurrentMap(1 ms sink, c=1)` → a counting Writable. Baseline: raw `Transform(identity)` →
 * hand-written group-by-100 `Transform` → a Writable taking 1 ms per batch. The engine: a `Pipeline`
 * with processors at concurrency 2 and one batcher of 100 (1000 ms, c=1) whose `handleBatch` waits
 * 1 ms.
 *
 * The memory gate (peak RSS ≤ 100 MB, growth ≤ 20 MB) holds for the primitives and the engine alike,
 * and comes with a broken variant that must fail
 * it: the same topology with a slow stage that takes every batch at once and queues it, ignoring
 * backpressure. Every case runs once, in a process of its own (see `profileMemory`), so the broken
 * variant's memory cannot show in the others' figures.
 */
import { Readable, Transform, Writable, type Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { batch, concurrentMap, type Batch } from '../lib/index.js'
import {
  ackSink,
  expectAcked,
  passMessage,
  pipelineRun,
  rawIdentity,
  type MemoryProfile,
  type MemoryWorkload,
} from './harness.js'
import { groupInto } from './w2-batch.js'

const BATCH_SIZE = 100
const SINK_MS = 1
const PAYLOAD_CHARS = 100
const BROKEN_N = 1_000_000
/** The gate: the issue's target for the engine; the primitives should stay well under it. */
const PEAK_RSS_LIMIT_MB = 100
const GROWTH_LIMIT_MB = 20
/** Below this N the 10% checkpoint comes within V8's first ~3 s, while it still grows its young generation. */
const WARM_N = 3_000_000

/** An M1 record: small, but a fresh allocation per item (payload included), so holding many shows. */
interface Item {
  readonly id: number
  readonly payload: string
}

/**
 * An object-mode Readable of `n` records made on demand, until `push` says stop; it calls
 * `emitted(count)` after each, for the profile's 10% and 100% checkpoints.
 */
function records(n: number, emitted: (count: number) => void): Readable {
  let next = 0
  return new Readable({
    objectMode: true,
    read() {
      while (next < n) {
        const more = this.push({ id: next, payload: 'x'.repeat(PAYLOAD_CHARS) } satisfies Item)
        emitted(++next)
        if (!more) return
      }
      this.push(null)
    },
  })
}

/** Counts acked items and checks they come in order, each once: a run that lost one is no result. */
class Acker {
  acked = 0

  ack(items: readonly Item[]): void {
    for (const item of items) {
      if (item.id !== this.acked) throw new Error(`acked item ${item.id}, expected ${this.acked}`)
      this.acked++
    }
  }
}

/** The baseline's sink: a raw Writable that acks each batch after 1 ms, holding the next write till then. */
function rawSlowSink(acker: Acker): Writable {
  return new Writable({
    objectMode: true,
    write(items: Item[], _encoding, callback) {
      sleep(SINK_MS).then(
        () => {
          acker.ack(items)
          callback()
        },
        (error: unknown) => {
          callback(error as Error)
        },
      )
    },
  })
}

/** streamway's slow sink: one 1 ms call per batch at a time. */
const slowSink = () =>
  concurrentMap(
    async (done: Batch<Item>) => {
      await sleep(SINK_MS)
      return done
    },
    { concurrency: 1 },
  )

/**
 * The broken variant's slow stage: the same 1 ms per batch, but `transform` calls back at once and
 * queues the batch for a loop that handles it later. Nothing upstream ever waits, so the source
 * runs ahead and the queue holds most of the input: the bug the memory gate exists to catch.
 */
function unboundedSlowStage(): Transform {
  const queue: (Batch<Item> | undefined)[] = []
  let head = 0
  let draining = false
  let onDrained: (() => void) | null = null
  const drain = async () => {
    draining = true
    try {
      while (head < queue.length && !stage.destroyed) {
        await sleep(SINK_MS)
        const done = queue[head]
        // Drop the handled batch, as a queue would, so that only what waits is held.
        queue[head++] = undefined
        stage.push(done)
      }
    } catch (error) {
      stage.destroy(error as Error)
    }
    draining = false
    onDrained?.()
  }
  const stage = new Transform({
    objectMode: true,
    transform(done: Batch<Item>, _encoding, callback) {
      queue.push(done)
      // The bug: accepting the next batch before this one is handled.
      callback()
      if (!draining) drain()
    },
    flush(callback) {
      if (draining) onDrained = callback
      else callback()
    },
  })
  return stage
}

/** The streamway topology with `slow` as the slow stage: the real sink, or the broken one. */
async function streamway(n: number, emitted: (count: number) => void, slow: () => Duplex): Promise<Acker> {
  const acker = new Acker()
  await pipeline(
    records(n, emitted),
    concurrentMap((item: Item) => item, { concurrency: 2 }),
    batch<Item>({ size: BATCH_SIZE, timeoutMs: 1000 }),
    slow(),
    ackSink((done: Batch<Item>) => {
      acker.ack(done.items)
    }),
  )
  return acker
}

const mb = (value: number) => `${value.toFixed(1)} MB`

/** Where `profile` breaks the memory gate; empty when it holds. */
function violations(profile: MemoryProfile): string[] {
  const found: string[] = []
  if (profile.peakRssMB > PEAK_RSS_LIMIT_MB)
    found.push(`peak RSS ${mb(profile.peakRssMB)} > ${PEAK_RSS_LIMIT_MB} MB`)
  if (profile.growthMB > GROWTH_LIMIT_MB) found.push(`growth ${mb(profile.growthMB)} > ${GROWTH_LIMIT_MB} MB`)
  return found
}

/**
 * M1's gates on the profiles of [baseline, streamway, Pipeline, broken]: the streamway primitives and
 * the engine must each hold the memory gate, and the broken variant must fail it on growth, or the
 * gate proves nothing.
 */
function memoryGates(profiles: readonly MemoryProfile[]): string[] {
  const [baseline, primitives, engine, broken] = profiles
  if (baseline === undefined || primitives === undefined || engine === undefined || broken === undefined)
    throw new Error(`m1: expected 4 profiles, got ${profiles.length}`)
  const items = (profile: MemoryProfile) =>
    `${Math.round(profile.throughput).toLocaleString('en-US')} items/s`
  const lines = [
    `throughput: streamway ${items(primitives)}, Pipeline ${items(engine)}, raw ${items(baseline)}, ` +
      `ratios ${(primitives.throughput / baseline.throughput).toFixed(2)} / ` +
      `${(engine.throughput / baseline.throughput).toFixed(2)}; peak RSS streamway ` +
      `${mb(primitives.peakRssMB)}, Pipeline ${mb(engine.peakRssMB)}, raw ${mb(baseline.peakRssMB)}`,
  ]
  const failures: string[] = []
  const rawViolations = violations(baseline)
  lines.push(
    `memory gate (not enforced): raw baseline ${rawViolations.length === 0 ? 'within it' : `outside it: ${rawViolations.join(', ')}`}`,
  )
  for (const [label, profile] of [
    ['streamway', primitives],
    ['Pipeline', engine],
  ] as const) {
    const found = violations(profile)
    if (found.length === 0) {
      lines.push(
        `memory gate: ${label} ✓ (peak RSS ${mb(profile.peakRssMB)} ≤ ${PEAK_RSS_LIMIT_MB} MB, ` +
          `growth ${mb(profile.growthMB)} ≤ ${GROWTH_LIMIT_MB} MB)`,
      )
    } else failures.push(`${label} failed the memory gate: ${found.join(', ')}`)
  }
  if (broken.growthMB > GROWTH_LIMIT_MB) {
    lines.push(
      `memory gate: broken variant detected ✓ (growth ${mb(broken.growthMB)}, ` +
        `peak RSS ${mb(broken.peakRssMB)}, N = ${broken.items.toLocaleString('en-US')})`,
    )
  } else {
    failures.push(
      `the broken variant passed the growth check (growth ${mb(broken.growthMB)} ≤ ${GROWTH_LIMIT_MB} MB): ` +
        'the gate does not see a stage that ignores backpressure',
    )
  }
  // Said on failure too: a short run is the likeliest cause of a growth failure.
  const notes =
    primitives.items < WARM_N
      ? [`note: N < ${WARM_N.toLocaleString('en-US')}, so growth includes V8's heap warm-up (up to ~20 MB)`]
      : []
  if (failures.length > 0) throw new Error(`m1 memory gate: ${[...failures, ...notes].join('; ')}`)
  return [...lines, ...notes]
}

/**
 * M1's cases: the raw pipeline as the baseline, the streamway primitives, the engine, and the broken variant
 * (on `BROKEN_N` items: its queue must outgrow the gate, not the machine); plus the memory gates.
 * @param n items of the baseline and streamway runs. @default 10_000_000
 */
export function m1SlowSink(n = 10_000_000): MemoryWorkload {
  return {
    id: 'm1',
    title: `slow sink (${SINK_MS} ms per batch of ${BATCH_SIZE}), N = ${n.toLocaleString('en-US')}`,
    cases: [
      {
        name: 'raw pipeline: identity → group(100) → 1 ms sink (baseline)',
        items: n,
        async run(emitted) {
          const acker = new Acker()
          await pipeline(records(n, emitted), rawIdentity(), groupInto<Item>(BATCH_SIZE), rawSlowSink(acker))
          expectAcked('m1 baseline', acker.acked, n)
        },
      },
      {
        name: 'concurrentMap → batch(100) → concurrentMap(1 ms sink)',
        items: n,
        async run(emitted) {
          const acker = await streamway(n, emitted, slowSink)
          expectAcked('m1 streamway', acker.acked, n)
        },
      },
      {
        name: 'Pipeline: processors c=2 → batcher(100) → 1 ms handleBatch',
        items: n,
        // pipelineRun checks that every message was acked once, successful (not their order: the
        // processors are unordered at concurrency 2).
        run: (emitted) =>
          pipelineRun<Item>('m1 Pipeline', n, records(n, emitted), {
            processors: { default: { concurrency: 2 } },
            batchers: { default: { batchSize: BATCH_SIZE, batchTimeoutMs: 1000, concurrency: 1 } },
            handleMessage: passMessage,
            async handleBatch(_batcher, messages) {
              await sleep(SINK_MS)
              return messages
            },
          }),
      },
      {
        name: 'broken: … → batch(100) → unbounded queue → 1 ms sink',
        items: BROKEN_N,
        async run(emitted) {
          const acker = await streamway(BROKEN_N, emitted, unboundedSlowStage)
          expectAcked('m1 broken variant', acker.acked, BROKEN_N)
        },
      },
    ],
    gates: memoryGates,
  }
}
