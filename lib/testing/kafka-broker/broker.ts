/**
 * `KafkaTestBroker`: a Kafka-wire-protocol broker for tests. One node, in memory, in the test's own
 * process, that real Kafka clients (kafkajs 2.2.4 is what it is checked against) talk to over TCP.
 * It is a test fixture, not a server: no replication, no persistence, no transactions, no SASL or TLS.
 * On top of the protocol it offers what tests need: the records as stored, committed offsets, group
 * state, fault injection, a request trace, and dropped connections.
 */
import { EventEmitter } from 'node:events'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { KafkaTestBrokerError } from '../../errors.js'
import { defaultLogger, type Logger } from '../../logger.js'
import { parseOptions } from '../../options.js'
import type { BrokerState } from './apis/api.js'
import { Connection } from './connection.js'
import { Dispatcher, InjectedErrors, type BrokerRequestEvent } from './dispatcher.js'
import { GroupCoordinator } from './group-coordinator.js'
import { describeGroup, recordsOf, type BrokerGroupState, type BrokerRecord } from './inspection.js'
import { OffsetStore } from './offset-store.js'
import {
  kafkaTestBrokerOptionsSchema,
  type KafkaTestBrokerOptions,
  type ResolvedKafkaTestBrokerOptions,
} from './options.js'
import type { PartitionLog } from './partition-log.js'
import { apiKeys, apiName, type ApiName, type BrokerAddress } from './protocol.js'
import { TopicStore, topicNameProblem } from './topic-store.js'

/** The events of `KafkaTestBroker`: `'request'`, for every request it reads, before it answers. */
export interface KafkaTestBrokerEvents {
  request: [event: BrokerRequestEvent]
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * An in-memory, single-node Kafka broker for tests, on 127.0.0.1 and a free port. Point a real
 * Kafka client at the address `start()` resolves with; assert on what it stored; inject faults.
 * Stop the clients first, then the broker.
 * @param options see `docs/testing/kafka-broker.md`; invalid options throw `InvalidOptionError`.
 * @example
 * import { Kafka, logLevel } from 'kafkajs'
 * import { KafkaTestBroker } from 'streamway/testing'
 *
 * const broker = new KafkaTestBroker({ topics: { orders: 3 } })
 * const kafka = new Kafka({ brokers: [await broker.start()], logLevel: logLevel.NOTHING })
 * const producer = kafka.producer()
 * await producer.connect()
 * await producer.send({ topic: 'orders', messages: [{ key: 'a', value: 'one' }] })
 * await producer.disconnect()
 * const [record] = broker.records('orders')
 * await broker.stop()
 */
export class KafkaTestBroker extends EventEmitter<KafkaTestBrokerEvents> {
  /** The validated options. */
  readonly options: ResolvedKafkaTestBrokerOptions
  private readonly logger: Logger
  private readonly state: Mutable<BrokerState>
  private readonly injected = new InjectedErrors()
  private readonly dispatcher: Dispatcher
  private readonly connections = new Set<Connection>()
  private server: Server | undefined
  private starting: Promise<string> | undefined
  private stopping: Promise<void> | undefined
  private listeningOn: string | undefined
  private connectionCount = 0
  private producerIds = 0n

  constructor(options?: KafkaTestBrokerOptions) {
    super()
    this.options = parseOptions(kafkaTestBrokerOptionsSchema, options)
    this.logger = (this.options.logger ?? defaultLogger()).child({ component: 'kafka-test-broker' })
    this.state = {
      address: { nodeId: 0, host: this.options.host, port: this.options.port },
      clusterId: 'streamway-kafka-test-broker',
      topics: new TopicStore(),
      groups: new GroupCoordinator(this.options.initialRebalanceDelayMs, this.logger),
      offsets: new OffsetStore(),
      defaultPartitions: this.options.defaultPartitions,
      autoCreateTopics: this.options.autoCreateTopics,
      logger: this.logger,
      nextProducerId: () => ++this.producerIds,
    }
    this.dispatcher = new Dispatcher(this.state, this.injected, (event) => {
      this.logger.trace({ api: event.api, version: event.version, clientId: event.clientId }, 'request')
      try {
        this.emit('request', event)
      } catch (error) {
        // A test's listener failing must not look like the client's fault (which closes its connection).
        this.logger.error({ err: error, api: event.api }, "a 'request' listener threw")
      }
    })
    for (const [name, partitions] of Object.entries(this.options.topics ?? {}))
      this.createTopic(name, partitions)
  }

  /**
   * Starts listening; resolves with the address to give clients (`"127.0.0.1:PORT"`). Calling it again
   * resolves with the same address. A port in use rejects with a `KafkaTestBrokerError`.
   * @example
   * const kafka = new Kafka({ brokers: [await broker.start()] })
   */
  start(): Promise<string> {
    if (this.stopping !== undefined)
      return Promise.reject(new KafkaTestBrokerError('A stopped broker cannot start again; create a new one'))
    this.starting ??= this.listen()
    return this.starting
  }

  private async listen(): Promise<string> {
    const server = createServer((socket) => {
      this.accept(socket)
    })
    this.server = server
    const { host, port: wanted } = this.options
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => {
        reject(new KafkaTestBrokerError(`Cannot listen on ${host}:${String(wanted)}`, { cause: error }))
      }
      server.once('error', failed)
      server.listen(wanted, host, () => {
        server.off('error', failed)
        resolve()
      })
    })
    server.on('error', (error) => {
      this.logger.error({ err: error }, 'listener error')
    })
    const { port } = server.address() as AddressInfo
    const address: BrokerAddress = { nodeId: 0, host, port }
    this.state.address = address
    this.logger.debug({ host: address.host, port }, 'listening')
    this.listeningOn = `${address.host}:${String(port)}`
    return this.listeningOn
  }

  private accept(socket: Socket): void {
    if (this.stopping !== undefined) {
      socket.destroy()
      return
    }
    const connection = new Connection(
      socket,
      ++this.connectionCount,
      (frame, info) => this.dispatcher.dispatch(frame, info),
      this.logger,
    )
    this.connections.add(connection)
    socket.on('close', () => this.connections.delete(connection))
  }

  /**
   * The address clients connect to (`"127.0.0.1:PORT"`), once started.
   * @example
   * const kafka = new Kafka({ brokers: [broker.address ?? (await broker.start())] })
   */
  get address(): string | undefined {
    return this.listeningOn
  }

  /**
   * Stops the broker: closes every connection, clears every timer, answers parked requests. Stop the
   * clients first, or their reconnection attempts keep the test running. Idempotent.
   * @example
   * await consumer.disconnect()
   * await broker.stop()
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined)
      this.dropConnections()
      this.state.topics.close()
      this.state.groups.close()
      this.injected.clear()
      const server = this.server
      if (server !== undefined && server.listening)
        await new Promise<void>((resolve) =>
          server.close(() => {
            resolve()
          }),
        )
      this.logger.debug('stopped')
    })()
    return this.stopping
  }

  /**
   * Closes every client connection at once and goes on listening, with all data and groups kept:
   * what clients see when a broker restarts. Returns how many connections were closed.
   * @example
   * broker.dropConnections() // kafkajs reconnects on its next request
   */
  dropConnections(): number {
    const dropped = this.connections.size
    for (const connection of this.connections) connection.destroy()
    this.connections.clear()
    return dropped
  }

  /**
   * Creates a topic (throws a `KafkaTestBrokerError` if it exists or its name is not a legal one).
   * @param partitions @default options.defaultPartitions
   * @example
   * broker.createTopic('orders', 8)
   */
  createTopic(name: string, partitions: number = this.options.defaultPartitions): void {
    const problem = topicNameProblem(name)
    if (problem !== undefined) throw new KafkaTestBrokerError(`Cannot create the topic: ${problem}`)
    if (!Number.isSafeInteger(partitions) || partitions < 1)
      throw new KafkaTestBrokerError(`A topic needs an integer ≥ 1 of partitions, got ${String(partitions)}`)
    if (this.state.topics.has(name))
      throw new KafkaTestBrokerError(`Topic ${JSON.stringify(name)} already exists`)
    this.state.topics.create(name, partitions)
  }

  /**
   * Every topic name, sorted.
   * @example
   * t.same(broker.topicNames(), ['orders'])
   */
  topicNames(): string[] {
    return this.state.topics.names()
  }

  private logsOf(topic: string): readonly PartitionLog[] {
    const logs = this.state.topics.get(topic)
    if (logs === undefined) throw new KafkaTestBrokerError(`No topic ${JSON.stringify(topic)}`)
    return logs
  }

  /**
   * The stored records of `topic` (of one partition, or of all in partition order), decoded. Throws a
   * `KafkaTestBrokerError` for an unknown topic or partition, or a batch compressed with a codec other
   * than gzip.
   * @example
   * t.same(broker.records('orders', 0).map((r) => r.value?.toString()), ['one', 'two'])
   */
  records(topic: string, partition?: number): BrokerRecord[] {
    const logs = this.logsOf(topic)
    if (partition !== undefined && logs[partition] === undefined)
      throw new KafkaTestBrokerError(`Topic ${JSON.stringify(topic)} has no partition ${String(partition)}`)
    return recordsOf(topic, logs, partition)
  }

  /**
   * The high watermark (next offset) of each partition of `topic`.
   * @example
   * t.same(broker.highWatermarks('orders'), [2n, 0n, 1n])
   */
  highWatermarks(topic: string): bigint[] {
    return this.logsOf(topic).map((log) => log.highWatermark)
  }

  /**
   * The offsets `group` committed, by topic and partition (`{}` when none).
   * @example
   * t.same(broker.committedOffsets('billing'), { orders: { 0: 2n, 1: 0n } })
   */
  committedOffsets(group: string): Record<string, Record<number, bigint>> {
    const result: Record<string, Record<number, bigint>> = {}
    for (const [topic, partitions] of this.state.offsets.ofGroup(group)) {
      const offsets: Record<number, bigint> = {}
      for (const [partition, committed] of partitions) offsets[partition] = committed.offset
      result[topic] = offsets
    }
    return result
  }

  /**
   * A snapshot of `group`: state, generation, leader, members and their assigned partitions; or
   * `undefined` if the broker has never heard of it.
   * @example
   * const state = broker.groupState('billing')
   * t.equal(state?.state, 'Stable')
   */
  groupState(group: string): BrokerGroupState | undefined {
    const found = this.state.groups.get(group)
    return found === undefined ? undefined : describeGroup(found)
  }

  /**
   * Answers the next `count` requests of `api` (a name such as `'Produce'`, or an API key) with
   * `errorCode` everywhere the response carries one, without handling them: a Produce so answered
   * stores nothing. `kafkaErrorCodes` names the usual codes.
   * @example
   * broker.injectError('Produce', kafkaErrorCodes.NOT_LEADER_FOR_PARTITION, 2) // kafkajs retries
   */
  injectError(api: ApiName | number, errorCode: number, count = 1): void {
    const name = typeof api === 'number' ? apiName(api) : api in apiKeys ? api : undefined
    if (name === undefined) throw new KafkaTestBrokerError(`The broker does not answer API ${String(api)}`)
    if (!Number.isSafeInteger(errorCode) || errorCode < -1 || errorCode > 32767)
      throw new KafkaTestBrokerError(`An error code is an INT16, got ${String(errorCode)}`)
    if (!Number.isSafeInteger(count) || count < 1)
      throw new KafkaTestBrokerError(`count must be an integer ≥ 1, got ${String(count)}`)
    this.injected.add(name, errorCode, count)
  }

  /**
   * Turns the creation of unknown topics by Metadata requests on or off.
   * @example
   * broker.setAutoCreateTopics(false) // producing to an unknown topic now fails (after kafkajs' retries)
   */
  setAutoCreateTopics(enabled: boolean): void {
    this.state.autoCreateTopics = enabled
  }
}
