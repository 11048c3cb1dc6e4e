import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import {
  ErrorBudgetExceededError,
  InvalidOptionError,
  MalformedRecordError,
  Message,
  Pipeline,
  type Acknowledger,
} from '../../../lib/index.js'
import {
  csvSource,
  type CsvMetadata,
  type CsvSource,
  type CsvSourceOptions,
} from '../../../adapters/csv/index.js'
import type { RecordPosition, RecordTracker } from '../../../adapters/file/position.js'

const dir = mkdtempSync(join(tmpdir(), 'streamway-csv-'))
let files = 0
function fileOf(content: string | Buffer): string {
  const path = join(dir, `f${String(++files)}.csv`)
  writeFileSync(path, content)
  return path
}

type Msg = Message<unknown, CsvMetadata>

async function readAll(source: CsvSource): Promise<Msg[]> {
  const out: Msg[] = []
  for await (const m of source.stream) out.push(m as Msg)
  return out
}

/** A Readable handing out `bytes` in chunks of `size`. */
function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return Readable.from(chunks, { objectMode: false })
}

const ok = (ms: Msg[]) => ms.filter((m) => !m.isFailed)
const bad = (ms: Msg[]) => ms.filter((m) => m.isFailed)
const reason = (m: Msg) => (m.status as { reason: MalformedRecordError }).reason

async function rows(content: string | Buffer, options?: CsvSourceOptions): Promise<Msg[]> {
  return readAll(csvSource(fileOf(content), options))
}

t.test('a file with a header gives one object per row with its file, line and byte offset', async (t) => {
  const text = 'id,name\n1,ann\n2,bob\n'
  const path = fileOf(text)
  const ms = await readAll(csvSource(path))
  t.same(
    ms.map((m) => m.data),
    [
      { id: '1', name: 'ann' },
      { id: '2', name: 'bob' },
    ],
  )
  t.same(
    ms.map((m) => m.metadata),
    [
      { file: path, line: 2, offset: 8 },
      { file: path, line: 3, offset: 14 },
    ],
  )
})

t.test('columns may be given as names (every line a row) or turned off (arrays)', async (t) => {
  const named = await rows('1,ann\n2,bob', { columns: ['id', 'name'] })
  t.same(
    named.map((m) => [m.data, m.metadata.line]),
    [
      [{ id: '1', name: 'ann' }, 1],
      [{ id: '2', name: 'bob' }, 2],
    ],
  )
  const arrays = await rows('a,b\n1,2\n', { columns: false })
  t.same(
    arrays.map((m) => m.data),
    [
      ['a', 'b'],
      ['1', '2'],
    ],
  )
})

t.test(
  'quoted delimiters, quotes and newlines stay in their field and lines are counted right',
  async (t) => {
    const text = 'id,text\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,after\n'
    const ms = await rows(text)
    t.same(
      ms.map((m) => [m.data, m.metadata.line]),
      [
        [{ id: '1', text: 'a, b' }, 2],
        [{ id: '2', text: 'say "hi"' }, 3],
        [{ id: '3', text: 'two\nlines' }, 4],
        [{ id: '4', text: 'after' }, 6],
      ],
    )
    for (const m of ms)
      t.ok(
        Buffer.from(text)
          .subarray(m.metadata.offset)
          .toString()
          .startsWith((m.data as { id: string }).id),
      )
  },
)

t.test('CRLF and mixed line endings leave no carriage return in the fields', async (t) => {
  const text = 'id,v\r\n1,"x\r\ny"\r\n2,b\n3,c\r\n'
  const ms = await rows(text)
  t.same(
    ms.map((m) => [m.data, m.metadata.line, m.metadata.offset]),
    [
      [{ id: '1', v: 'x\r\ny' }, 2, 6],
      [{ id: '2', v: 'b' }, 4, 16],
      [{ id: '3', v: 'c' }, 5, 20],
    ],
  )
})

t.test('a UTF-8 BOM is dropped and byte offsets still count it', async (t) => {
  const ms = await rows(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id,é\n1,ü\n')]))
  t.same(ms[0]?.data, { id: '1', é: 'ü' })
  t.equal(ms[0]?.metadata.offset, 3 + Buffer.byteLength('id,é\n'))
})

t.test('empty lines are skipped and do not shift line numbers', async (t) => {
  const ms = await rows('id\n\n1\n\r\n\n2\n\n')
  t.same(
    ms.map((m) => [m.data, m.metadata.line, m.metadata.offset]),
    [
      [{ id: '1' }, 3, 4],
      [{ id: '2' }, 6, 9],
    ],
  )
})

t.test('ragged rows are failed with their line and raw text; the rows around them land', async (t) => {
  const ms = await rows('a,b\n1,2\n3\n4,5\n6,7,8\n9,10\n')
  t.same(
    ok(ms).map((m) => m.data),
    [
      { a: '1', b: '2' },
      { a: '4', b: '5' },
      { a: '9', b: '10' },
    ],
  )
  t.same(
    bad(ms).map((m) => [reason(m).line, reason(m).raw, reason(m).parserCode, m.data, m.metadata.line]),
    [
      [3, '3', 'CSV_RECORD_INCONSISTENT_COLUMNS', '3', 3],
      [5, '6,7,8', 'CSV_RECORD_INCONSISTENT_COLUMNS', '6,7,8', 5],
    ],
  )
  t.ok(bad(ms).every((m) => reason(m) instanceof MalformedRecordError && m.skipProcessing))
  const arrays = await rows('1,2\n3\n4,5\n', { columns: false })
  t.same(
    bad(arrays).map((m) => [reason(m).line, reason(m).parserCode]),
    [[2, 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH']],
  )
})

function bigFile(n: number, broken: number, quoted: boolean): string {
  const lines = ['id,name,amount,note']
  for (let i = 1; i <= n; i++) {
    const note = quoted && i % 10 === 0 ? `"note, ${String(i)}"` : `n${String(i)}`
    lines.push(
      i === broken
        ? `${String(i)},"broken,${String(i)},x`
        : `${String(i)},name${String(i)},${String(i * 3)},${note}`,
    )
  }
  return lines.join('\n') + '\n'
}

for (const [label, quoted] of [
  ['no other quote (the quote runs to maxRecordSize)', false],
  ['quoted fields later (the quote closes on the next one)', true],
] as const) {
  t.test(`a broken quote in the middle of 100k rows fails its line only, ${label}`, async (t) => {
    const n = 100_000
    const broken = 50_000
    const ms = await rows(bigFile(n, broken, quoted), { maxRecordSize: 65_536 })
    t.equal(ms.length, n)
    const failed = bad(ms)
    t.equal(failed.length, 1)
    t.equal(reason(failed[0]!).line, broken + 1)
    t.equal(failed[0]!.metadata.line, broken + 1)
    t.match(reason(failed[0]!).raw, `${String(broken)},"broken`)
    const good = ok(ms)
    t.equal(good.length, n - 1)
    let expected = 1
    let inOrder = true
    for (const m of good) {
      if (expected === broken) expected++
      const row = m.data as { id: string }
      if (row.id !== String(expected) || m.metadata.line !== expected + 1) inOrder = false
      expected++
    }
    t.ok(inOrder, 'every good row lands once, in order, with its line')
  })
}

t.test(
  'an unclosed quote at the end of the file fails its line and keeps the rows it swallowed',
  async (t) => {
    const ms = await rows('a,b\n1,2\n3,"x\n4,5\n6,7\n')
    t.same(
      ok(ms).map((m) => m.data),
      [
        { a: '1', b: '2' },
        { a: '4', b: '5' },
        { a: '6', b: '7' },
      ],
    )
    t.same(
      bad(ms).map((m) => [reason(m).line, reason(m).raw, reason(m).parserCode]),
      [[3, '3,"x', 'CSV_QUOTE_NOT_CLOSED']],
    )
  },
)

t.test('quote errors inside a line fail that line', async (t) => {
  const ms = await rows('a,b\n1,"x"y\n2,a"b\n3,4\n')
  t.same(
    bad(ms).map((m) => [reason(m).line, reason(m).parserCode]),
    [
      [2, 'CSV_INVALID_CLOSING_QUOTE'],
      [3, 'INVALID_OPENING_QUOTE'],
    ],
  )
  t.same(
    ok(ms).map((m) => m.data),
    [{ a: '3', b: '4' }],
  )
})

t.test('a row with invalid UTF-8 is failed; a character split across chunks is not', async (t) => {
  const bytes = Buffer.concat([
    Buffer.from('a,b\n1,été\n2,'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('\n3,ünï\n'),
  ])
  for (const size of [1, 2, 3, 5, 1024]) {
    const ms = await readAll(csvSource(chunked(bytes, size)))
    t.same(
      ok(ms).map((m) => m.data),
      [
        { a: '1', b: 'été' },
        { a: '3', b: 'ünï' },
      ],
      `chunks of ${String(size)}`,
    )
    t.same(
      bad(ms).map((m) => [reason(m).line, reason(m).parserCode]),
      [[3, 'CSV_INVALID_ENCODING']],
    )
  }
  const latin = await rows(Buffer.from('a\n\xe9t\xe9\n', 'latin1'), { encoding: 'latin1' })
  t.same(latin[0]?.data, { a: 'été' })
})

t.test('the same file read in chunks of any size gives the same messages', async (t) => {
  const text = 'id,v\r\n1,"a,\r\nb"\r\n\r\n2,x\r\n3,"y\r\n4,z\r\n5\r\n6,"q""r"\r\n'
  const whole = await rows(text)
  const view = (ms: Msg[]) => ms.map((m) => [m.isFailed, m.data, m.metadata.line, m.metadata.offset])
  t.equal(whole.length, 6)
  for (const size of [1, 2, 3, 7, 13])
    t.same(view(await readAll(csvSource(chunked(Buffer.from(text), size)))), view(whole))
})

t.test('delimiter, quote, escape and fromLine are honoured', async (t) => {
  const ms = await rows("junk\nmore junk\na;b\n'x;y';'it\\'s'\n", {
    delimiter: ';',
    quote: "'",
    escape: '\\',
    fromLine: 3,
  })
  t.same(
    ms.map((m) => [m.data, m.metadata.line]),
    [[{ a: 'x;y', b: "it's" }, 4]],
  )
  const tabs = await rows('a\tb\n1\t2\n', { delimiter: '\t', columns: false, fromLine: 2 })
  t.same(tabs[0]?.data, ['1', '2'])
})

/** A tracker that records every position and acks nothing. */
function recordingTracker(): RecordTracker & { positions: RecordPosition[] } {
  const positions: RecordPosition[] = []
  const acknowledger: Acknowledger = { ack() {} }
  return {
    positions,
    track(position) {
      positions.push(position)
      return { acknowledger, ackData: position }
    },
  }
}

t.test('the tracker is told the position past every row, and startAt resumes right after one', async (t) => {
  const text = 'id,v\n1,a\n2,"b\nc"\n\n3,c\n4,d\n'
  const path = fileOf(text)
  const tracker = recordingTracker()
  const all = await readAll(csvSource(path, { tracker }))
  t.same(tracker.positions, [
    { line: 2, offset: 9 },
    { line: 4, offset: 17 },
    { line: 6, offset: 22 },
    { line: 7, offset: 26 },
  ])
  t.equal(all[1]?.ackData, tracker.positions[1])
  const startAt = tracker.positions[1]!
  const fromPath = await readAll(csvSource(path, { startAt }))
  const fromStream = await readAll(csvSource(chunked(Buffer.from(text), 4), { startAt }))
  const expected = [
    [{ id: '3', v: 'c' }, 6, 18],
    [{ id: '4', v: 'd' }, 7, 22],
  ]
  t.same(
    fromPath.map((m) => [m.data, m.metadata.line, m.metadata.offset]),
    expected,
  )
  t.same(
    fromStream.map((m) => [m.data, m.metadata.line, m.metadata.offset]),
    expected,
  )
  const source = csvSource(path, { startAt })
  await readAll(source)
  t.equal(source.stats.totalBytes, text.length - startAt.offset)
})

t.test('the error budget stops the source cleanly once exceeded', async (t) => {
  const lines = ['a,b']
  for (let i = 0; i < 100; i++) lines.push(i % 10 === 5 ? 'x' : `${String(i)},y`)
  const text = lines.join('\n')
  const source = csvSource(fileOf(text), { maxFailedRows: 2 })
  const events: unknown[] = []
  source.stream.on('budgetExceeded', (e) => events.push(e))
  const ms = await readAll(source)
  t.equal(bad(ms).length, 3)
  t.equal(ms.length, 26)
  t.type(source.stats.budgetExceeded, ErrorBudgetExceededError)
  t.same(events, [source.stats.budgetExceeded])
  t.match(source.stats, { rows: 26, failed: 3, ended: true })

  const ratio = csvSource(fileOf(text), { maxFailedRatio: 0.05, minRowsForRatio: 20 })
  const ratioMs = await readAll(ratio)
  t.equal(ratioMs.length, 20)
  t.match(ratio.stats.budgetExceeded?.message, /maxFailedRatio/)

  const within = csvSource(fileOf(text), { maxFailedRows: 10 })
  t.equal((await readAll(within)).length, 100)
  t.equal(within.stats.budgetExceeded, undefined)
})

t.test('the file is read no faster than the messages are taken', async (t) => {
  const text = bigFile(200_000, -1, false)
  const source = csvSource(fileOf(text), { highWaterMark: 16, chunkSize: 16_384 })
  source.stream.read(0)
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(
    source.stats.bytesRead < 200_000,
    `read ${String(source.stats.bytesRead)} bytes of ${String(text.length)}`,
  )
  t.ok(source.stats.rows < 10_000)
  source.stream.destroy()
})

function throwsAt(t: Test, fn: () => unknown, path: string): void {
  try {
    fn()
    t.fail(`expected a throw at ${path}`)
  } catch (error) {
    t.type(error, InvalidOptionError)
    t.equal((error as InvalidOptionError).path, path)
  }
}

t.test('bad options and inputs throw InvalidOptionError naming the option', async (t) => {
  t.throws(() => csvSource('x.csv', { delimiter: '' }), InvalidOptionError)
  throwsAt(t, () => csvSource('x.csv', { maxFailedRatio: 2 }), 'options.maxFailedRatio')
  throwsAt(t, () => csvSource('x.csv', { columns: [] }), 'options.columns')
  throwsAt(t, () => csvSource('x.csv', { nope: 1 } as never), 'options.nope')
  throwsAt(t, () => csvSource('x.csv', { quote: ',' }), 'options.quote')
  throwsAt(t, () => csvSource(42 as never), 'input')
  const missing = csvSource(join(dir, 'missing.csv'))
  await t.rejects(readAll(missing), { code: 'ENOENT' })
  await t.rejects(rows('a,"b\n1,2\n'), MalformedRecordError)
  t.same(await rows(''), [])
})

t.test('through a Pipeline, every row is acked exactly once, good or failed', async (t) => {
  const lines = ['id,v']
  for (let i = 1; i <= 5000; i++)
    lines.push(i % 500 === 0 ? String(i) : i === 2345 ? `${String(i)},"x` : `${String(i)},v`)
  const acks = new Map<number, number>()
  const failedLines: number[] = []
  const acknowledger: Acknowledger = {
    ack(successful, failed) {
      for (const m of [...successful, ...failed]) {
        const line = (m.metadata as unknown as CsvMetadata).line
        acks.set(line, (acks.get(line) ?? 0) + 1)
      }
      for (const m of failed) failedLines.push((m.metadata as unknown as CsvMetadata).line)
    },
  }
  const tracker: RecordTracker = { track: () => ({ acknowledger, ackData: undefined }) }
  const source = csvSource(fileOf(lines.join('\n')), { tracker })
  const seen: string[] = []
  const p = new Pipeline({
    name: `csv-${String(process.pid)}-${String(Date.now())}`,
    logger: pino({ level: 'silent' }),
    producer: { source },
    processors: { default: { concurrency: 4 } },
    handleMessage: (_processor, message) => {
      seen.push((message.data as { id: string }).id)
      return message
    },
  })
  await p.start()
  const report = await p.done
  t.equal(acks.size, 5000)
  t.ok(
    [...acks.values()].every((n) => n === 1),
    'acked once each',
  )
  t.same(
    failedLines.sort((a, b) => a - b),
    [...Array.from({ length: 10 }, (_, i) => (i + 1) * 500 + 1), 2346].sort((a, b) => a - b),
  )
  t.equal(seen.length, 5000 - 11)
  t.match(report, { successful: 4989, failed: 11 })
  t.match(source.stats, { rows: 5000, failed: 11, ended: true })
})

t.test(
  'columnNames reads the header as the source parses it: BOM, quotes, a line break in a name',
  async (t) => {
    const path = fileOf('\uFEFFid;"full\nname";"a ""quoted"" one"\n1;x;y\n')
    t.same(await csvSource(path, { delimiter: ';' }).columnNames(), ['id', 'full\nname', 'a "quoted" one'])
    t.same(await csvSource(path, { columns: ['a', 'b', 'c'] }).columnNames(), ['a', 'b', 'c'])
    t.equal(await csvSource(path, { columns: false }).columnNames(), undefined)
    t.equal(await csvSource(Readable.from([Buffer.from('a,b\n')])).columnNames(), undefined)
  },
)
