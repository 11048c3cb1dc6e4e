/** Shared test fixtures: counting sources, collecting sinks, seeded randomness. */
import { Readable, Writable } from 'node:stream'

/** A Readable of `items` that counts how many it has handed out (`reads`), pushing on demand. */
export interface CountingSource extends Readable {
  readonly reads: number
}

/** Builds a source of `items` with `highWaterMark` that counts every item it pushes. */
export function countingSource<T>(items: Iterable<T>, highWaterMark = 16): CountingSource {
  const iterator = items[Symbol.iterator]()
  let reads = 0
  const source = new Readable({
    objectMode: true,
    highWaterMark,
    read() {
      for (;;) {
        const next = iterator.next()
        if (next.done === true) {
          this.push(null)
          return
        }
        reads++
        if (!this.push(next.value)) return
      }
    },
  })
  Object.defineProperty(source, 'reads', { get: () => reads })
  return source as CountingSource
}

/** `0, 1, …, n - 1`. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/** A Writable that keeps every item it receives in `items`. */
export function collector<T>(): Writable & { items: T[] } {
  const items: T[] = []
  const sink = new Writable({
    objectMode: true,
    write(item: T, _encoding, callback) {
      items.push(item)
      callback()
    },
  })
  return Object.assign(sink, { items })
}

/** A Writable that never calls back: a consumer that has stopped reading. */
export function stalledSink(highWaterMark = 16): Writable {
  return new Writable({ objectMode: true, highWaterMark, write() {} })
}

/** A small deterministic PRNG (mulberry32), so random tests replay. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Resolves after `n` turns of the event loop (macrotasks), letting streams settle. */
export async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Turns the event loop until `source.reads` stops moving (at most 50 × `settle(20)`); returns it. */
export async function readsSettled(source: { readonly reads: number }): Promise<number> {
  let last = -1
  for (let i = 0; i < 50 && source.reads !== last; i++) {
    last = source.reads
    await settle(20)
  }
  return last
}
