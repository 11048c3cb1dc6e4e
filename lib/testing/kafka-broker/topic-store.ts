/**
 * The broker's topics, each a list of partition logs, and the long-polling fetches waiting for
 * records. A produce wakes every waiting fetch, which looks again at its own partitions: simpler
 * than a waiter list per partition, and cheap with the handful of consumers a test has.
 */
import { PartitionLog } from './partition-log.js'

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/

/** Why `name` cannot be a topic (Kafka's rules), or `undefined` if it can. */
export function topicNameProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `topic name ${JSON.stringify(name)} is not allowed`
  if (!LEGAL_TOPIC.test(name))
    return `topic name ${JSON.stringify(name)} must be 1 to 249 of the characters [a-zA-Z0-9._-]`
  return undefined
}

interface Waiter {
  readonly wake: () => void
  readonly timer: NodeJS.Timeout
}

/** Topics by name, and the fetches waiting for a produce. */
export class TopicStore {
  private readonly topics = new Map<string, PartitionLog[]>()
  private readonly waiters = new Set<Waiter>()
  private stopped = false

  /** Creates `name` with `partitions` empty partitions; the caller checked that it does not exist. */
  create(name: string, partitions: number): void {
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => new PartitionLog()),
    )
  }

  /** Deletes `name` and its records; false if there was no such topic. */
  delete(name: string): boolean {
    const deleted = this.topics.delete(name)
    if (deleted) this.wakeAll()
    return deleted
  }

  /** The partitions of `name`, or `undefined`. */
  get(name: string): readonly PartitionLog[] | undefined {
    return this.topics.get(name)
  }

  has(name: string): boolean {
    return this.topics.has(name)
  }

  /** Partition `partition` of `topic`, or `undefined` if either is unknown. */
  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition]
  }

  /** Every topic name, sorted. */
  names(): string[] {
    return [...this.topics.keys()].sort()
  }

  /** Whether `close()` was called: nothing waits any more. */
  get closed(): boolean {
    return this.stopped
  }

  /** Tells the waiting fetches that records were appended. */
  appended(): void {
    this.wakeAll()
  }

  /**
   * Resolves at the next append (or topic deletion), after `ms`, or when `signal` aborts (the
   * client's connection closed), whichever comes first.
   */
  waitForAppend(ms: number, signal: AbortSignal): Promise<void> {
    if (this.stopped || signal.aborted || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(waiter.timer)
        this.waiters.delete(waiter)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const waiter: Waiter = { wake: done, timer: setTimeout(done, ms) }
      this.waiters.add(waiter)
      signal.addEventListener('abort', done)
    })
  }

  private wakeAll(): void {
    for (const waiter of [...this.waiters]) waiter.wake()
  }

  /** Wakes every waiting fetch and clears its timer; later waits end at once (the broker is stopping). */
  close(): void {
    this.stopped = true
    this.wakeAll()
  }
}
