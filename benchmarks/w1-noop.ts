/**
 * W1 noop: the engine's cost per item. Integers go through a processor that returns them unchanged
 * and are acked by a counting sink; the baseline is the same work in raw Node streams.
 */
import { pipeline } from 'node:stream/promises'
import { concurrentMap } from '../lib/index.js'
import { ackSink, expectAcked, integers, rawIdentity, type Workload } from './harness.js'

/**
 * W1's cases: raw `pipeline(Readable, Transform(identity), Writable)` as the baseline, and
 * `concurrentMap(x => x, { concurrency: 2 })` in its place.
 * @param n items per run. @default 1_000_000
 */
export function w1Noop(n = 1_000_000): Workload {
  return {
    id: 'w1',
    title: `noop, N = ${n.toLocaleString('en-US')}`,
    baseline: {
      name: 'raw pipeline: Transform(identity) (baseline)',
      items: n,
      async run() {
        let acked = 0
        const identity = rawIdentity()
        await pipeline(
          integers(n),
          identity,
          ackSink(() => {
            acked++
          }),
        )
        expectAcked('w1 baseline', acked, n)
      },
    },
    cases: [
      {
        name: 'concurrentMap(identity, c=2)',
        items: n,
        async run() {
          let acked = 0
          const processors = concurrentMap((item: number) => item, { concurrency: 2 })
          await pipeline(
            integers(n),
            processors,
            ackSink(() => {
              acked++
            }),
          )
          expectAcked('w1 concurrentMap', acked, n)
        },
      },
    ],
  }
}
