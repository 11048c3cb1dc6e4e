/**
 * W3 io: processors that await a 5 ms timer (simulated I/O) at concurrency 100. The baseline is the
 * theoretical limit 100 / 5 ms = 20,000 items/s.
 *
 * Two references without streamway tell where a shortfall comes from: a plain promise pool (100
 * loops awaiting the same timer, no streams) shows what Node's timers allow on their own, and
 * core's `Readable.prototype.map` at the same concurrency shows what a core stream stage allows.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { concurrentMap } from '../lib/index.js'
import type { Message } from '../lib/index.js'
import { expectAcked, integers, pipeAndAck, pipelineRun, type BenchCase, type Workload } from './harness.js'

const DELAY_MS = 5
const CONCURRENCY = 100

/** The simulated I/O call: resolves to its item after `DELAY_MS`. */
const io = (item: number): Promise<number> => sleep(DELAY_MS, item)

function streamway(n: number, ordered: boolean): BenchCase {
  return {
    name: `concurrentMap(io, c=${CONCURRENCY}, ordered: ${ordered})`,
    items: n,
    run: () =>
      pipeAndAck(`w3 ordered: ${ordered}`, n, [
        integers(n),
        concurrentMap(io, { concurrency: CONCURRENCY, ordered }),
      ]),
  }
}

/**
 * The engine: a `Pipeline` whose `handleMessage` awaits the same timer, processors at concurrency
 * 100. A processor takes `maxDemand` messages at once and handles them one after the other (as
 * Broadway does), so with the default 10 a slow call delays the 9 behind it; `maxDemand` 1 does not.
 */
function engine(n: number, maxDemand: number): BenchCase {
  return {
    name: `Pipeline(io, processors c=${CONCURRENCY}, maxDemand ${maxDemand})`,
    items: n,
    run: () =>
      pipelineRun(`w3 Pipeline maxDemand ${maxDemand}`, n, integers(n), {
        processors: { default: { concurrency: CONCURRENCY, maxDemand } },
        handleMessage: (_processor, message: Message<number>) => sleep(DELAY_MS, message),
      }),
  }
}

/**
 * W3's cases: the theoretical limit as the baseline, `concurrentMap` ordered and unordered, and the
 * two references (promise pool, core `Readable.map`), and the engine at `maxDemand` 10 (its
 * default) and 1.
 * @param n items per run. @default 20_000
 */
export function w3Io(n = 20_000): Workload {
  return {
    id: 'w3',
    title: `io (${DELAY_MS} ms timer), N = ${n.toLocaleString('en-US')}, concurrency ${CONCURRENCY}`,
    baseline: {
      name: `theoretical limit ${CONCURRENCY} / ${DELAY_MS} ms (baseline)`,
      value: (CONCURRENCY * 1000) / DELAY_MS,
    },
    cases: [
      streamway(n, true),
      streamway(n, false),
      {
        name: `reference: promise pool of ${CONCURRENCY}, no streams`,
        items: n,
        async run() {
          let next = 0
          let acked = 0
          const worker = async () => {
            while (next < n) {
              await io(next++)
              acked++
            }
          }
          await Promise.all(Array.from({ length: CONCURRENCY }, worker))
          expectAcked('w3 promise pool', acked, n)
        },
      },
      {
        name: `reference: core Readable.map(io, c=${CONCURRENCY})`,
        items: n,
        run: () =>
          pipeAndAck('w3 Readable.map', n, [
            integers(n).map((item: number) => io(item), { concurrency: CONCURRENCY }),
          ]),
      },
      engine(n, 10),
      engine(n, 1),
    ],
  }
}
