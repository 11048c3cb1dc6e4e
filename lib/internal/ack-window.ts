/**
 * `AckWindow`: the low watermark of records acked out of order. Records are tracked in order and
 * each gets a sequence number; acks mark sequence numbers done in any order; the watermark is the
 * first record not done, so a gap (a record still in flight) holds it back and it never passes an
 * unacked record. Each record carries two numbers (a file checkpoint's line and byte offset, a
 * Kafka partition's offset) and the window tells those of the last record below the watermark.
 *
 * Memory: a ring of (a, b, done) over the records between the watermark and the last tracked one,
 * doubling when full: it grows with the records in flight, never with the records seen.
 */

/** Slots of a new ring. */
const INITIAL_CAPACITY = 64

/** See the module comment. */
export class AckWindow {
  // Slot `seq % capacity` holds record `seq` for low ≤ seq < high.
  #a = new Float64Array(INITIAL_CAPACITY)
  #b = new Float64Array(INITIAL_CAPACITY)
  #done = new Uint8Array(INITIAL_CAPACITY)
  #capacity = INITIAL_CAPACITY
  #low = 0
  #high = 0
  #lastA = NaN
  #lastB = NaN

  /** The watermark: every record below this sequence number is done. */
  get low(): number {
    return this.#low
  }

  /** Records tracked and not yet below the watermark. */
  get inFlight(): number {
    return this.#high - this.#low
  }

  /** Slots of the ring. */
  get capacity(): number {
    return this.#capacity
  }

  /** `a` of the last record below the watermark (`NaN` before any). */
  get lastA(): number {
    return this.#lastA
  }

  /** `b` of the last record below the watermark (`NaN` before any). */
  get lastB(): number {
    return this.#lastB
  }

  /** Tracks the next record, carrying `a` and `b`; returns its sequence number. */
  track(a: number, b = 0): number {
    if (this.#high - this.#low === this.#capacity) this.#grow()
    const seq = this.#high++
    const slot = seq % this.#capacity
    this.#a[slot] = a
    this.#b[slot] = b
    this.#done[slot] = 0
    return seq
  }

  /** Marks record `seq` done; false when it is not a record in flight (never tracked, or done already). */
  mark(seq: unknown): boolean {
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < this.#low || seq >= this.#high)
      return false
    const slot = seq % this.#capacity
    if (this.#done[slot] === 1) return false
    this.#done[slot] = 1
    return true
  }

  /** Moves the watermark over the records done; true when it moved. */
  advance(): boolean {
    const done = this.#done
    const capacity = this.#capacity
    const high = this.#high
    let low = this.#low
    while (low < high && done[low % capacity] === 1) low++
    if (low === this.#low) return false
    this.#low = low
    const slot = (low - 1) % capacity
    this.#lastA = this.#a[slot] as number
    this.#lastB = this.#b[slot] as number
    return true
  }

  #grow(): void {
    const capacity = this.#capacity * 2
    const a = new Float64Array(capacity)
    const b = new Float64Array(capacity)
    const done = new Uint8Array(capacity)
    for (let seq = this.#low; seq < this.#high; seq++) {
      const from = seq % this.#capacity
      const to = seq % capacity
      a[to] = this.#a[from] as number
      b[to] = this.#b[from] as number
      done[to] = this.#done[from] as number
    }
    this.#a = a
    this.#b = b
    this.#done = done
    this.#capacity = capacity
  }
}
