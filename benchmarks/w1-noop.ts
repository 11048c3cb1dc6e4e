/**
 * W1 noop: the engine's cost per item. Integers go through a processor that returns them unchanged
 * and are acked by a counting sink; the baseline is the same work in raw Node streams.
 */
import { concurrentMap } from '../lib/index.js'
import { integers, pipeAndAck, rawIdentity, type Workload } from './harness.js'

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
      run: () => pipeAndAck('w1 baseline', n, [integers(n), rawIdentity()]),
    },
    cases: [
      {
        name: 'concurrentMap(identity, c=2)',
        items: n,
        run: () =>
          pipeAndAck('w1 concurrentMap', n, [
            integers(n),
            concurrentMap((item: number) => item, { concurrency: 2 }),
          ]),
      },
    ],
  }
}
