/**
 * `Utf8Check`: UTF-8 validation of a file read in chunks, shared by the CSV reader and splitter.
 * Each new run of whole characters is checked once (`isUtf8`, native); only a range that fails
 * is checked again record by record, so a valid file costs one pass and no per-record work.
 */
import { isUtf8 } from 'node:buffer'

/** See the module comment. */
export class Utf8Check {
  /** File offset up to which bytes were checked. */
  #checkedTo: number
  /** The range of file offsets that failed the check. */
  #suspectFrom = Infinity
  #suspectTo = -1

  /** @param from file offset of the first byte to check. */
  constructor(from: number) {
    this.#checkedTo = from
  }

  /**
   * Checks the whole characters of `held` (file offsets from `base`) not checked yet; `end`: the
   * file is over, so a trailing incomplete character is checked too (and fails).
   */
  scan(held: Buffer, base: number, end: boolean): void {
    const to = end ? base + held.length : base + completeUpTo(held)
    const from = Math.max(this.#checkedTo, base)
    if (to <= from) return
    if (!isUtf8(held.subarray(from - base, to - base))) {
      if (this.#suspectFrom > from) this.#suspectFrom = from
      this.#suspectTo = to
    }
    this.#checkedTo = to
  }

  /** True when the record at file offsets `[start, end)` (bytes `held[start - base …]`) is valid. */
  valid(held: Buffer, base: number, start: number, end: number): boolean {
    if (end <= this.#suspectFrom || start >= this.#suspectTo) return true
    return isUtf8(held.subarray(start - base, end - base))
  }
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence. */
function completeUpTo(buf: Buffer): number {
  const n = buf.length
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = buf[n - back] as number
    if ((b & 0xc0) === 0x80) continue // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    return need > back ? n - back : n
  }
  return n
}
