/**
 * A first-in first-out queue on a growable ring buffer: O(1) push and shift without the O(n) cost
 * of `Array.prototype.shift` on long queues. Internal; not exported from `streamway`.
 */
export class Fifo<T> {
  #items: (T | undefined)[]
  #head = 0
  #length = 0

  constructor(capacity = 16) {
    let size = 1
    while (size < capacity) size <<= 1
    this.#items = new Array<T | undefined>(size)
  }

  /** Number of queued items. */
  get length(): number {
    return this.#length
  }

  /** Adds an item at the tail. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item
    this.#length++
  }

  /** The item at the head, or `undefined` when empty. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head]
  }

  /** Removes and returns the item at the head, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head = (this.#head + 1) & (this.#items.length - 1)
    this.#length--
    return item
  }

  #grow(): void {
    const old = this.#items
    const next = new Array<T | undefined>(old.length * 2)
    for (let i = 0; i < this.#length; i++) next[i] = old[(this.#head + i) & (old.length - 1)]
    this.#items = next
    this.#head = 0
  }
}
