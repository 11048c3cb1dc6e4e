/**
 * Every diagnostics channel a pipeline publishes on, declared here and nowhere else (the names are
 * a contract: `docs/telemetry.md` lists them, `test/pipeline/telemetry.test.ts` keeps both in
 * step). They mirror Broadway's telemetry events. Publishing costs nothing while a channel has no
 * subscriber: the engine checks `hasSubscribers` before it builds an event.
 */
import diagnosticsChannel from 'node:diagnostics_channel'

/** Channel names, by what they report. */
export const channelNames = {
  /** The pipeline built its stages: `{ pipeline, topology }`. */
  topologyInit: 'streamway:topology:init',
  /** A producer crashed: `{ pipeline, producer, error, restarting }`. */
  producerCrash: 'streamway:producer:crash',
  /** A processor took a group of messages: `{ pipeline, processor, messages }`. */
  processorStart: 'streamway:processor:start',
  /** A processor finished a group: `{ pipeline, processor, messages, successful, failed, duration }`. */
  processorStop: 'streamway:processor:stop',
  /** `handleMessage` is called: `{ pipeline, processor, message }`. */
  messageStart: 'streamway:processor:message:start',
  /** `handleMessage` returned: `{ pipeline, processor, message, duration }`. */
  messageStop: 'streamway:processor:message:stop',
  /** `handleMessage` threw: `{ pipeline, processor, message, error, duration }`. */
  messageException: 'streamway:processor:message:exception',
  /** A batcher took a group of messages: `{ pipeline, batcher, messages }`. */
  batcherStart: 'streamway:batcher:start',
  /** A batcher placed the group in its batches: `{ pipeline, batcher, messages, duration }`. */
  batcherStop: 'streamway:batcher:stop',
  /** `handleBatch` is called: `{ pipeline, batcher, messages, batchInfo }`. */
  batchProcessorStart: 'streamway:batch_processor:start',
  /** `handleBatch` finished: `{ pipeline, batcher, messages, batchInfo, successful, failed, duration }`. */
  batchProcessorStop: 'streamway:batch_processor:stop',
  /** Messages were acked: `{ pipeline, stage, successful, failed }`. */
  ack: 'streamway:ack',
  /** The pipeline stopped: `{ pipeline, report }`. */
  pipelineStop: 'streamway:pipeline:stop',
} as const

/** The channels themselves, by the same keys. */
export const channels = {
  topologyInit: diagnosticsChannel.channel(channelNames.topologyInit),
  producerCrash: diagnosticsChannel.channel(channelNames.producerCrash),
  processorStart: diagnosticsChannel.channel(channelNames.processorStart),
  processorStop: diagnosticsChannel.channel(channelNames.processorStop),
  messageStart: diagnosticsChannel.channel(channelNames.messageStart),
  messageStop: diagnosticsChannel.channel(channelNames.messageStop),
  messageException: diagnosticsChannel.channel(channelNames.messageException),
  batcherStart: diagnosticsChannel.channel(channelNames.batcherStart),
  batcherStop: diagnosticsChannel.channel(channelNames.batcherStop),
  batchProcessorStart: diagnosticsChannel.channel(channelNames.batchProcessorStart),
  batchProcessorStop: diagnosticsChannel.channel(channelNames.batchProcessorStop),
  ack: diagnosticsChannel.channel(channelNames.ack),
  pipelineStop: diagnosticsChannel.channel(channelNames.pipelineStop),
} as const

/** Log event names (the `event` field of each pino line the engine writes), declared with the channels. */
export const logEvents = {
  messageFailed: 'message_failed',
  missingFromBatch: 'missing_from_batch',
  handleFailedThrew: 'handle_failed_threw',
  ackThrew: 'ack_threw',
  producerCrashed: 'producer_crashed',
  producerRestarted: 'producer_restarted',
  shutdownTimedOut: 'shutdown_timed_out',
  closeHookThrew: 'close_hook_threw',
} as const
