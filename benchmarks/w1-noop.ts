/**
 * W1 noop: the engine's cost per item. Integers go through a processor that returns them unchanged
 * and are acked by a counting sink; the baseline is the same work in raw Node streams.
 */
import { concurrentMap } from '../lib/index.js'
import { integers, passMessage, pipeAndAck, pipelineRun, rawIdentity, type Workload } from './harness.js'

/**
 * W1's cases: raw `pipeline(Readable, Transform(identity), Writable)` as the baseline,
 * `concurrentMap(x => x, { concurrency: 2 })` in its place, and the engine: a `Pipeline` with
 * processors at concurrency 2, no batcher, `handleMessage` returning the message.
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
      {
        name: 'Pipeline(processors c=2, no batcher)',
        items: n,
        run: () =>
          pipelineRun('w1 Pipeline', n, integers(n), {
            processors: { default: { concurrency: 2 } },
            handleMessage: passMessage,
          }),
      },
    ],
  }
}
