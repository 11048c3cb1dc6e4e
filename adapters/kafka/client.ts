/**
 * The Kafka client the adapter needs, as a shape: kafkajs' `Kafka` has it, and so does any client
 * with a KafkaJS-compatible API (such as `@confluentinc/kafka-javascript`'s), which can be passed
 * in instead — kafkajs has been unmaintained since 2024. `createClient` makes a kafkajs client
 * whose logs go to the adapter's pino logger (never kafkajs' console logger).
 */
import kafkajs from 'kafkajs'
import type { Consumer, ConsumerConfig, KafkaConfig, Producer, ProducerConfig } from 'kafkajs'
import type { Logger } from '../../lib/logger.js'

/** The consumer methods the source calls. */
export type KafkaConsumerLike = Pick<
  Consumer,
  'connect' | 'disconnect' | 'subscribe' | 'run' | 'commitOffsets' | 'pause' | 'resume' | 'on' | 'events'
>

/** The producer methods the sink calls. */
export type KafkaProducerLike = Pick<Producer, 'connect' | 'disconnect' | 'send'>

/** A Kafka client: what makes consumers and producers. */
export interface KafkaClientLike {
  consumer(config: ConsumerConfig): KafkaConsumerLike
  producer?(config?: ProducerConfig): KafkaProducerLike
}

const { Kafka, logLevel } = kafkajs

/** kafkajs' levels, as pino's. */
const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

/** A kafkajs client for `config`, logging through `logger` (kafkajs' namespace as `kafkajs`). */
export function createClient(config: KafkaConfig, logger: Logger): KafkaClientLike {
  const log = logger.child({ kafkajs: true })
  return new Kafka({
    clientId: 'streamway',
    ...config,
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, level, log: entry }) => {
        const { message, ...rest } = entry
        // kafkajs puts the broker list and its own fields here, never the SASL config.
        log[levels[level] ?? 'info']({ namespace, ...rest }, message)
      },
  })
}
