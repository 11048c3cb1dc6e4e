import t from 'tap'
import { readFileSync } from 'node:fs'
import type { z } from 'zod'
import { optionsTable } from '../lib/options.js'
import { concurrentMapOptionsSchema } from '../lib/streams/concurrent-map.js'
import { batchOptionsSchema } from '../lib/streams/batch.js'
import { mergeOptionsSchema, partitionByOptionsSchema } from '../lib/streams/partition.js'
import {
  rateLimitOptionsSchema,
  rateLimitStreamOptionsSchema,
  rateLimitUpdateSchema,
} from '../lib/streams/rate-limit.js'
import {
  batcherOptionsSchema,
  pipelineOptionsSchema,
  processorOptionsSchema,
  producerOptionsSchema,
  rateLimitingOptionsSchema,
} from '../lib/pipeline/options.js'
import { csvSourceOptionsSchema } from '../adapters/csv/index.js'
import { ndjsonSinkOptionsSchema, ndjsonSourceOptionsSchema } from '../adapters/ndjson/index.js'
import { deadLetterOptionsSchema, fileCheckpointOptionsSchema } from '../adapters/file/index.js'
import { httpSinkOptionsSchema } from '../adapters/http/index.js'
import { postgresSinkOptionsSchema } from '../adapters/postgres/index.js'
import { fromIterableOptionsSchema } from '../lib/pipeline/iterable-producer.js'
import { kafkaTestBrokerOptionsSchema } from '../lib/testing/kafka-broker/options.js'
import { kafkaSinkOptionsSchema, kafkaSourceOptionsSchema } from '../adapters/kafka/index.js'
import { prometheusExporterOptionsSchema, serveMetricsOptionsSchema } from '../adapters/prometheus/index.js'

/** Each docs page and the option schemas whose tables it must show. */
const pages: [string, z.ZodObject[]][] = [
  ['concurrent-map.md', [concurrentMapOptionsSchema]],
  ['batch.md', [batchOptionsSchema]],
  ['partition-by.md', [partitionByOptionsSchema, mergeOptionsSchema]],
  ['rate-limit.md', [rateLimitOptionsSchema, rateLimitUpdateSchema, rateLimitStreamOptionsSchema]],
  [
    'pipeline.md',
    [
      pipelineOptionsSchema,
      producerOptionsSchema,
      processorOptionsSchema,
      batcherOptionsSchema,
      rateLimitingOptionsSchema,
      fromIterableOptionsSchema,
    ],
  ],
  ['adapters/csv.md', [csvSourceOptionsSchema]],
  ['adapters/ndjson.md', [ndjsonSourceOptionsSchema, ndjsonSinkOptionsSchema]],
  ['adapters/dead-letter.md', [deadLetterOptionsSchema]],
  ['adapters/checkpoint.md', [fileCheckpointOptionsSchema]],
  ['adapters/http.md', [httpSinkOptionsSchema]],
  ['adapters/postgres.md', [postgresSinkOptionsSchema]],
  ['testing/kafka-broker.md', [kafkaTestBrokerOptionsSchema]],
  ['adapters/kafka.md', [kafkaSourceOptionsSchema, kafkaSinkOptionsSchema]],
  ['adapters/prometheus.md', [prometheusExporterOptionsSchema, serveMetricsOptionsSchema]],
]

for (const [page, schemas] of pages) {
  t.test(`docs/${page} shows every option with the default and description of its schema`, (t) => {
    const text = readFileSync(new URL(`../docs/${page}`, import.meta.url), 'utf8')
    t.match(text, '| Option | Default | Description |')
    for (const schema of schemas) {
      for (const row of optionsTable(schema)) {
        const line = `| \`${row.name}\` | ${row.default} | ${row.description} |`
        t.ok(text.includes(line), `has the row ${line}`)
      }
    }
    t.end()
  })
}

t.test('optionsTable reads defaults and descriptions from a schema', (t) => {
  const rows = optionsTable(concurrentMapOptionsSchema)
  t.same(
    rows.map((r) => [r.name, r.default]),
    [
      ['concurrency', '1'],
      ['ordered', 'true'],
      ['highWaterMark', '16'],
      ['signal', '—'],
    ],
  )
  t.end()
})
