import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import {
  ErrorBudgetExceededError,
  InvalidOptionError,
  MalformedRecordError,
  type Message,
} from '../../../lib/index.js'
import {
  ndjsonSource,
  type NdjsonMetadata,
  type NdjsonSourceOptions,
} from '../../../adapters/ndjson/index.js'
import type { RecordPosition } from '../../../adapters/file/position.js'
import { settle } from '../../helpers.js'

type Meta = NdjsonMetadata

/** A temp dir removed at the end of the test. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sw-ndjson-src-'))
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

function fileWith(t: Test, content: string | Buffer): string {
  const path = join(tempDir(t), 'in.ndjson')
  writeFileSync(path, content)
  return path
}

async function readAll(input: string | Readable, options?: NdjsonSourceOptions) {
  const source = ndjsonSource(input, options)
  const messages: Message[] = []
  for await (const m of source.stream) messages.push(m as Message)
  return { messages, source }
}

const meta = (m: Message) => m.metadata as unknown as Meta

t.test(
  'a bad JSON line in the middle is a failed message with its line and raw text; the rest lands',
  async (t) => {
    const path = fileWith(t, '{"id":1}\n{"id":2}\n{"id": oops\n{"id":4}\n')
    const { messages, source } = await readAll(path)
    t.same(
      messages.filter((m) => !m.isFailed).map((m) => m.data),
      [{ id: 1 }, { id: 2 }, { id: 4 }],
    )
    const bad = messages.filter((m) => m.isFailed)
    t.equal(bad.length, 1)
    const reason = (bad[0]!.status as { reason: unknown }).reason
    t.type(reason, MalformedRecordError)
    t.equal((reason as MalformedRecordError).code, 'SW_ERR_MALFORMED_RECORD')
    t.equal((reason as MalformedRecordError).line, 3)
    t.equal((reason as MalformedRecordError).raw, '{"id": oops')
    t.equal(bad[0]!.data, '{"id": oops')
    t.equal(bad[0]!.skipProcessing, true, 'handleMessage never sees the raw line')
    t.same(meta(bad[0]!), { file: path, line: 3, offset: 18 })
    t.same(source.stats, {
      rows: 4,
      failed: 1,
      bytesRead: 39,
      totalBytes: 39,
      budgetExceeded: undefined,
      ended: true,
    })
  },
)

t.test(
  'CRLF line endings, a BOM and empty lines: lines keep their numbers, offsets are real byte offsets',
  async (t) => {
    const content = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"a":"é"}\r\n\r\n\n{"a":"ü€"}\r\n   \r\n{"a":3}'),
    ])
    const path = fileWith(t, content)
    const { messages, source } = await readAll(path)
    t.same(
      messages.map((m) => m.data),
      [{ a: 'é' }, { a: 'ü€' }, { a: 3 }],
    )
    t.same(
      messages.map((m) => meta(m).line),
      [1, 4, 6],
    )
    t.equal(messages.filter((m) => m.isFailed).length, 0)
    const file = readFileSync(path)
    for (const m of messages) {
      const raw = JSON.stringify(m.data)
      const { offset } = meta(m)
      t.equal(
        file.subarray(offset, offset + Buffer.byteLength(raw)).toString('utf8'),
        raw,
        `offset of line ${meta(m).line}`,
      )
    }
    t.equal(meta(messages[0]!).offset, 3, 'the BOM is skipped but counted')
    t.equal(source.stats.rows, 3)
  },
)

t.test(
  'offsets equal the real byte offsets across chunk boundaries (a 2 MB file of multibyte text)',
  async (t) => {
    const lines: string[] = []
    for (let i = 0; i < 20_000; i++) lines.push(JSON.stringify({ i, text: 'héllo wörld ✓'.repeat(i % 7) }))
    const path = fileWith(t, lines.join('\n') + '\n')
    const file = readFileSync(path)
    const { messages } = await readAll(path)
    t.equal(messages.length, lines.length)
    let ok = true
    for (const [i, m] of messages.entries()) {
      const { offset, line } = meta(m)
      const raw = lines[i]!
      if (line !== i + 1 || file.subarray(offset, offset + Buffer.byteLength(raw)).toString() !== raw)
        ok = false
    }
    t.ok(ok, 'every line number and offset points at its line')
  },
)

t.test('a line that is not valid UTF-8 is a failed message', async (t) => {
  const path = fileWith(
    t,
    Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"a":2}\n')]),
  )
  const { messages } = await readAll(path)
  t.same(
    messages.map((m) => m.isFailed),
    [false, true, false],
  )
  const reason = (messages[1]!.status as { reason: MalformedRecordError }).reason
  t.equal(reason.parserCode, 'INVALID_UTF8')
  t.equal(reason.line, 2)
})

t.test('resume from a position reads only the rest, numbering lines from line + 1', async (t) => {
  const lines = ['{"n":1}', '{"n":2}', '', '{"n":4}', '{"n":5}']
  const path = fileWith(t, lines.join('\n') + '\n')
  const positions: RecordPosition[] = []
  const tracker = {
    track(position: RecordPosition) {
      positions.push(position)
      return { acknowledger: { ack() {} }, ackData: position.line }
    },
  }
  const first = await readAll(path, { tracker })
  t.same(
    positions.map((p) => p.line),
    [1, 2, 4, 5],
  )
  t.same(
    first.messages.map((m) => m.ackData),
    [1, 2, 4, 5],
  )
  const file = readFileSync(path)
  t.equal(positions[3]!.offset, file.length, 'the last position is the end of the file')
  const resumeAt = positions[1]! // just past line 2
  const fromPath = await readAll(path, { startAt: resumeAt })
  t.same(
    fromPath.messages.map((m) => [meta(m).line, m.data]),
    [
      [4, { n: 4 }],
      [5, { n: 5 }],
    ],
  )
  t.equal(fromPath.source.stats.bytesRead, file.length - resumeAt.offset, 'reads only the rest')
  t.equal(fromPath.source.stats.totalBytes, file.length - resumeAt.offset, 'and has only the rest to read')
  t.same(
    fromPath.messages.map((m) => meta(m).offset),
    [positions[1]!.offset + 1, positions[2]!.offset],
  )
  // The same from a Readable: the first bytes are skipped.
  const fromStream = await readAll(Readable.from([file.subarray(0, 5), file.subarray(5)]), {
    startAt: resumeAt,
  })
  t.same(
    fromStream.messages.map((m) => [meta(m).line, meta(m).offset, m.data]),
    fromPath.messages.map((m) => [meta(m).line, meta(m).offset, m.data]),
  )
  t.equal(meta(fromStream.messages[0]!).file, null)
})

t.test('reads a Readable of bytes split anywhere, and a last line without a line feed', async (t) => {
  const text = '{"a":1}\r\n{"b":"€"}\n{"c":3}'
  const bytes = Buffer.from(text)
  const chunks = Array.from(bytes, (b) => Buffer.from([b]))
  const { messages } = await readAll(Readable.from(chunks))
  t.same(
    messages.map((m) => [m.data, meta(m).line, meta(m).offset]),
    [
      [{ a: 1 }, 1, 0],
      [{ b: '€' }, 2, bytes.indexOf('{"b"')],
      [{ c: 3 }, 3, bytes.indexOf('{"c"')],
    ],
  )
})

t.test('the error budget stops the reading cleanly: maxFailedRows', async (t) => {
  const lines: string[] = []
  for (let i = 1; i <= 1000; i++) lines.push(i % 10 === 0 ? `bad ${i}` : JSON.stringify({ i }))
  const path = fileWith(t, lines.join('\n') + '\n')
  const source = ndjsonSource(path, { maxFailedRows: 2 })
  let event: unknown
  source.stream.on('budgetExceeded', (e: unknown) => {
    event = e
  })
  const messages: Message[] = []
  for await (const m of source.stream) messages.push(m as Message)
  t.equal(messages.length, 30, 'ends after the line that exceeded the budget')
  t.equal(meta(messages.at(-1)!).line, 30)
  t.ok(messages.at(-1)!.isFailed)
  t.equal(source.stats.failed, 3)
  t.type(event, ErrorBudgetExceededError)
  t.equal(source.stats.budgetExceeded, event)
  t.match((event as Error).message, /maxFailedRows \(2\)/)
  await settle()
  t.ok(source.stream.destroyed || source.stream.readableEnded, 'the stream ended, without an error')
})

t.test(
  'the error budget: maxFailedRatio is checked from minRowsForRatio rows on, and at the end',
  async (t) => {
    const lines: string[] = []
    for (let i = 1; i <= 1000; i++) lines.push(i % 4 === 0 ? `bad ${i}` : JSON.stringify({ i }))
    const path = fileWith(t, lines.join('\n') + '\n')
    const { messages, source } = await readAll(path, { maxFailedRatio: 0.2, minRowsForRatio: 100 })
    t.equal(messages.length, 100, 'stops at the first failed line from row 100 on')
    t.type(source.stats.budgetExceeded, ErrorBudgetExceededError)
    const loose = await readAll(path, { maxFailedRatio: 0.25 })
    t.equal(loose.messages.length, 1000)
    t.equal(loose.source.stats.budgetExceeded, undefined)
    const small = await readAll(fileWith(t, '{"a":1}\nbad\n'), { maxFailedRatio: 0.4 })
    t.equal(small.messages.length, 2, 'a short file is judged at its end')
    t.type(small.source.stats.budgetExceeded, ErrorBudgetExceededError)
  },
)

t.test(
  'backpressure: a stalled consumer makes the source read a bounded amount of a large file',
  async (t) => {
    const line = JSON.stringify({ pad: 'x'.repeat(80) }) + '\n'
    const path = fileWith(t, line.repeat(200_000)) // ~18 MB
    const source = ndjsonSource(path, { highWaterMark: 100 })
    const stream = source.stream
    // Take 10 messages, waiting for the file as long as it takes (no race with the disk), then stall.
    const lines: number[] = []
    while (lines.length < 10) {
      const message = stream.read() as Message | null
      if (message === null) await once(stream, 'readable')
      else lines.push(meta(message).line)
    }
    // Time for an unbounded source to read on; a bounded one stops (a slow host only reads less).
    await settle(50)
    t.same(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the first ten lines, in order')
    t.ok(
      source.stats.bytesRead <= 256 * 1024,
      `read ${source.stats.bytesRead} bytes of ${line.length * 200_000}`,
    )
    t.ok(stream.readableLength <= 100, `holds ${stream.readableLength} messages`)
    source.close()
    await settle()
    t.ok(stream.destroyed)
  },
)

t.test('options are validated; a missing file is a stream error', async (t) => {
  t.throws(() => ndjsonSource('x', { maxFailedRows: -1 }), InvalidOptionError)
  t.throws(() => ndjsonSource('x', { maxFailedRatio: 2 }), {
    name: 'InvalidOptionError',
    path: 'options.maxFailedRatio',
    message: /must be a finite number ≥ 0 and ≤ 1/,
  })
  t.throws(() => ndjsonSource('x', { startAt: { line: 1 } as unknown as RecordPosition }), InvalidOptionError)
  t.throws(() => ndjsonSource('x', { nope: 1 } as unknown as NdjsonSourceOptions), {
    name: 'InvalidOptionError',
    path: 'options.nope',
    message: /is not an option/,
  })
  t.throws(() => ndjsonSource(42 as unknown as string), InvalidOptionError)
  const source = ndjsonSource(join(tempDir(t), 'missing.ndjson'))
  await t.rejects(
    async () => {
      for await (const _ of source.stream) t.fail('no message expected')
    },
    { code: 'ENOENT' },
  )
})
