/**
 * `PartitionOffsets`: what a Kafka source may commit for one partition in one generation of its
 * group membership. Records are tracked in offset order as they are handed to the pipeline; acks
 * arrive out of order; the commit offset is one past the last record of the longest acked prefix
 * (an `AckWindow`), so a record still in flight holds the commit back. Failed records count once
 * acked: the engine acks them after `handleFailed` took them (a dead-letter file, say).
 *
 * When the group rebalances, the source fences every `PartitionOffsets` of the old generation:
 * later acks of its records still mark them (so nothing throws) but it never commits again. Its
 * records are redelivered from the last commit to whoever owns the partition next.
 */
import { AckWindow } from '../../lib/internal/ack-window.js'
import type { Acknowledger, Message } from '../../lib/message.js'

/**
 * See the module comment. It is its records' acknowledger (the engine groups acks by acknowledger:
 * one call per partition), and a record's `ackData` is its sequence number here, so a message
 * costs no object of its own for its ack.
 */
export class PartitionOffsets implements Acknowledger {
  readonly topic: string
  readonly partition: number
  /** The membership generation (the source's count of joins) this belongs to. */
  readonly epoch: number
  readonly #window = new AckWindow()
  /** The offset to commit (one past the acked prefix); the first fetched offset before any ack. */
  #next: number
  /** The offset last committed (or being committed); where fetching began until then. */
  #committed: number
  #fenced = false
  /** The partition's high watermark, as of the last fetch. */
  highWatermark = -1

  constructor(topic: string, partition: number, epoch: number, firstOffset: number) {
    this.topic = topic
    this.partition = partition
    this.epoch = epoch
    this.#next = firstOffset
    this.#committed = firstOffset
  }

  /** Tracks the record at `offset` (offsets only grow); returns its `ackData`. */
  track(offset: number): number {
    return this.#window.track(offset)
  }

  /** Marks the messages done (failed ones too: `handleFailed` took them first), then advances. */
  ack(successful: readonly Message[], failed: readonly Message[]): void {
    const window = this.#window
    for (const message of successful) window.mark(message.ackData)
    for (const message of failed) window.mark(message.ackData)
    this.advance()
  }

  /** Moves the commit offset over the acked prefix. */
  advance(): void {
    if (this.#window.advance()) this.#next = this.#window.lastA + 1
  }

  /** Records handed out and not yet below the acked prefix. */
  get inFlight(): number {
    return this.#window.inFlight
  }

  /** The offset a commit would write now. */
  get next(): number {
    return this.#next
  }

  /** The offset last committed (where fetching began, before any commit). */
  get committed(): number {
    return this.#committed
  }

  /** True once a rebalance fenced it: it commits no more. */
  get fenced(): boolean {
    return this.#fenced
  }

  fence(): void {
    this.#fenced = true
  }

  /** The offset to commit when there is something new to commit, else `undefined`; marks it committed. */
  takeCommit(): number | undefined {
    if (this.#fenced || this.#next <= this.#committed) return undefined
    this.#committed = this.#next
    return this.#next
  }

  /** A commit of `offset` failed: it is to be committed again. */
  commitFailed(offset: number): void {
    if (this.#committed === offset) this.#committed = -1
  }
}
