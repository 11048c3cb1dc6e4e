/**
 * W4 partition: items keyed by `i mod 64` are routed into 2 lanes by `partitionBy`; each lane runs
 * processors (c=2), a batcher of 100 and a batch handler (c=1); `merge` joins the lanes into a sink
 * that checks per-key order and counts. The baseline does the same work in one raw pipeline.
 *
 * The engine's case: a `Pipeline` with top-level `partitionBy` on the key, processors at concurrency
 * 2 and one batcher of 100 at concurrency 2, whose `handleBatch` checks per-key order.
 *
 * The order gate comes with a broken variant that must fail it: the same topology with unordered
 * processors and a straggler call every `STRAGGLE_EVERY` items, whose later items of the same key
 * overtake it. The same stragglers with `ordered: true` must pass, so the failure is the ordering's.
 * The engine gets the same gate: its `handleMessage` with the stragglers must fail the check without
 * `partitionBy` and pass it with.
 */
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  batch,
  concurrentMap,
  merge,
  partitionBy,
  type Batch,
  type ConcurrentMap,
  type Message,
} from '../lib/index.js'
import {
  ackSink,
  expectAcked,
  integers,
  passMessage,
  pipelineRun,
  rawIdentity,
  type PipelineCase,
  type Workload,
} from './harness.js'
import { groupInto } from './w2-batch.js'

const KEYS = 64
const PARTITIONS = 2
const BATCH_SIZE = 100
const GATE_N = 20_000
// Deterministic rather than random, so the gate fails the same way on every run.
const STRAGGLE_EVERY = 997
const STRAGGLE_MS = 10

/** The acking end of W4: acks items and records the first one that breaks per-key order. */
export class OrderChecker {
  /** Items acked in order. */
  acked = 0
  /** The first violation seen, or `null`. */
  violation: string | null = null
  readonly #last = new Float64Array(KEYS).fill(-1)

  /** Acks `item`, or throws when it is not above the previous item of its key. */
  ack(item: number): void {
    const key = item % KEYS
    const last = this.#last[key]!
    if (item <= last) {
      this.violation ??= `key ${key}: ${item} arrived after ${last}`
      throw new Error(`per-key order broken: ${this.violation}`)
    }
    this.#last[key] = item
    this.acked++
  }
}

/**
 * Runs the streamway topology over `0 … n - 1` into `checker`. `processors` builds each lane's first
 * stage. Every pipeline is awaited to the end, so nothing still runs when this settles; an order
 * violation is the error reported, since teardown errors of the other pipelines follow from it.
 */
async function partitioned(
  n: number,
  checker: OrderChecker,
  processors: () => ConcurrentMap<number, number>,
): Promise<void> {
  const router = partitionBy((item: number) => item % KEYS, { partitions: PARTITIONS })
  const lanes: Promise<void>[] = []
  const tails = router.lanes.map((lane) => {
    const handleBatch = concurrentMap((done: Batch<number>) => done.items, { concurrency: 1 })
    lanes.push(pipeline(lane, processors(), batch<number>({ size: BATCH_SIZE }), handleBatch))
    return handleBatch
  })
  const sink = ackSink((items: number[]) => {
    for (const item of items) checker.ack(item)
  })
  const results = await Promise.allSettled([
    pipeline(integers(n), router),
    pipeline(merge(tails), sink),
    ...lanes,
  ])
  if (checker.violation !== null) throw new Error(`per-key order broken: ${checker.violation}`)
  for (const result of results) if (result.status === 'rejected') throw result.reason
}

const identityProcessors = () => concurrentMap((item: number) => item, { concurrency: 2 })

/** Processors with a straggler call every `STRAGGLE_EVERY` items: ordered or not, per `ordered`. */
const stragglingProcessors = (ordered: boolean) => () =>
  concurrentMap(
    async (item: number, { signal }) => {
      if (item % STRAGGLE_EVERY === 0) await sleep(STRAGGLE_MS, undefined, { signal })
      return item
    },
    { concurrency: 2, ordered },
  )

/**
 * Runs `0 … n - 1` through the engine's W4 topology into `checker`, which `handleBatch` calls on
 * every message (a violation fails the batch, and so the run); without `partitioned`, the same
 * pipeline without `partitionBy`: the gate's broken variant.
 */
async function engine(
  label: string,
  n: number,
  checker: OrderChecker,
  handleMessage: PipelineCase<number>['handleMessage'],
  partitioned = true,
): Promise<void> {
  await pipelineRun(label, n, integers(n), {
    ...(partitioned ? { partitionBy: (message: Message<number>) => message.data % KEYS } : {}),
    processors: { default: { concurrency: PARTITIONS } },
    batchers: { default: { batchSize: BATCH_SIZE, concurrency: PARTITIONS } },
    handleMessage,
    handleBatch(_batcher, messages) {
      for (const message of messages) checker.ack(message.data)
      return messages
    },
  })
  if (checker.violation !== null) throw new Error(`per-key order broken: ${checker.violation}`)
}

/** The engine's `handleMessage` with a straggler every `STRAGGLE_EVERY` items. */
const stragglingHandler = (_processor: string, message: Message<number>) =>
  message.data % STRAGGLE_EVERY === 0 ? sleep(STRAGGLE_MS, message) : message

/**
 * An order gate: `run(checker, true)` (the broken variant) must fail the order check, and
 * `run(checker, false)` (the same stragglers, ordered) must pass it, or the check proves nothing.
 * `broken` and `control` name the two variants in the messages.
 */
async function gate(
  label: string,
  broken: string,
  control: string,
  run: (checker: OrderChecker, broken: boolean) => Promise<void>,
): Promise<string> {
  const brokenChecker = new OrderChecker()
  const outcome = await run(brokenChecker, true).catch((error: unknown) => error)
  if (brokenChecker.violation === null)
    throw new Error(`${label}: the broken variant (${broken}) passed the order check`, { cause: outcome })
  const controlChecker = new OrderChecker()
  await run(controlChecker, false)
  expectAcked(`w4 ${label} control`, controlChecker.acked, GATE_N)
  return `${label}: broken variant (${broken}) detected ✓ (${brokenChecker.violation}); the same stragglers with ${control} pass`
}

/** The order gate on the primitives: unordered processors must fail it, ordered ones pass. */
const orderGate = () =>
  gate('order gate', 'ordered: false', 'ordered: true', (checker, broken) =>
    partitioned(GATE_N, checker, stragglingProcessors(!broken)),
  )

/** The order gate on the engine: stragglers must break order without `partitionBy`, not with it. */
const engineOrderGate = () =>
  gate('order gate (Pipeline)', 'no partitionBy', 'partitionBy', (checker, broken) =>
    engine(`w4 gate Pipeline${broken ? ' broken' : ''}`, GATE_N, checker, stragglingHandler, !broken),
  )

/**
 * W4's cases: raw Readable → Transform(identity) → `groupInto(100)` → order-checking Writable as the
 * baseline, the partitioned streamway topology, and the engine's; plus the order gates.
 * @param n items per run. @default 1_000_000
 */
export function w4Partition(n = 1_000_000): Workload {
  return {
    id: 'w4',
    title: `partition, N = ${n.toLocaleString('en-US')}, ${KEYS} keys, ${PARTITIONS} lanes, batch ${BATCH_SIZE}`,
    baseline: {
      name: 'raw pipeline: identity → group(100) (baseline)',
      items: n,
      async run() {
        const checker = new OrderChecker()
        const identity = rawIdentity()
        const sink = ackSink((items: number[]) => {
          for (const item of items) checker.ack(item)
        })
        await pipeline(integers(n), identity, groupInto<number>(BATCH_SIZE), sink)
        expectAcked('w4 baseline', checker.acked, n)
      },
    },
    cases: [
      {
        name: 'partitionBy(2) → lanes → merge',
        items: n,
        async run() {
          const checker = new OrderChecker()
          await partitioned(n, checker, identityProcessors)
          expectAcked('w4 streamway', checker.acked, n)
        },
      },
      {
        name: 'Pipeline(partitionBy, processors c=2, batcher 100 c=2)',
        items: n,
        async run() {
          const checker = new OrderChecker()
          await engine('w4 Pipeline', n, checker, passMessage)
          expectAcked('w4 Pipeline', checker.acked, n)
        },
      },
    ],
    gates: [orderGate, engineOrderGate],
  }
}
