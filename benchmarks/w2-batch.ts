/**
 * W2 batch: W1 plus one batcher. Processors, a batcher of 100 (timeout 1000 ms) and a batch handler
 * at concurrency 1 that returns the batch's items, acked one by one; the baseline groups by 100 in
 * a hand-written Transform.
 */
import { Transform } from 'node:stream'
import { batch, concurrentMap, type Batch } from '../lib/index.js'
import {
  integers,
  passBatch,
  passMessage,
  pipeAndAck,
  pipelineRun,
  rawIdentity,
  type Workload,
} from './harness.js'

const BATCH_SIZE = 100

/** A raw Transform grouping items into arrays of `size`, flushing the rest at the end. */
export function groupInto<T>(size: number): Transform {
  let group: T[] = []
  return new Transform({
    objectMode: true,
    transform(item: T, _encoding, callback) {
      group.push(item)
      if (group.length < size) {
        callback()
        return
      }
      const full = group
      group = []
      callback(null, full)
    },
    flush(callback) {
      if (group.length > 0) this.push(group)
      callback()
    },
  })
}

/**
 * W2's cases: raw Readable → Transform(identity) → `groupInto(100)` → Writable as the baseline, and
 * `concurrentMap` (c=2) → `batch({ size: 100, timeoutMs: 1000 })` → `concurrentMap(handleBatch)` (c=1),
 * and the engine: a `Pipeline` with processors at concurrency 2 and one batcher (100, 1000 ms, c=1).
 * @param n items per run. @default 1_000_000
 */
export function w2Batch(n = 1_000_000): Workload {
  return {
    id: 'w2',
    title: `batch, N = ${n.toLocaleString('en-US')}, size ${BATCH_SIZE}`,
    baseline: {
      name: 'raw pipeline: identity → group(100) (baseline)',
      items: n,
      run: () => pipeAndAck('w2 baseline', n, [integers(n), rawIdentity(), groupInto<number>(BATCH_SIZE)]),
    },
    cases: [
      {
        name: 'concurrentMap → batch(100) → handleBatch',
        items: n,
        run: () =>
          pipeAndAck('w2 streamway', n, [
            integers(n),
            concurrentMap((item: number) => item, { concurrency: 2 }),
            batch<number>({ size: BATCH_SIZE, timeoutMs: 1000 }),
            concurrentMap((done: Batch<number>) => done.items, { concurrency: 1 }),
          ]),
      },
      {
        name: 'Pipeline(processors c=2, batcher 100 c=1)',
        items: n,
        run: () =>
          pipelineRun('w2 Pipeline', n, integers(n), {
            processors: { default: { concurrency: 2 } },
            batchers: { default: { batchSize: BATCH_SIZE, batchTimeoutMs: 1000, concurrency: 1 } },
            handleMessage: passMessage,
            handleBatch: passBatch,
          }),
      },
    ],
  }
}
