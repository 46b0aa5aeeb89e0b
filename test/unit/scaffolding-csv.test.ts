import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root';
import { formatProblem, parseScaffoldingFile, stringifyScaffolding } from '../../src/scaffolding/files';
import { KINDS, type Kind } from '../../src/scaffolding/write';

const EXAMPLE = path.join(PROJECT_ROOT, 'examples', 'saas-support');
type Rows = Record<Kind, Array<Record<string, unknown>>>;

/** The rows of parsed files by kind, as the import sees them. */
function bodies(files: Array<{ name: string; text: string }>) {
  const out = Object.fromEntries(KINDS.map((k) => [k, [] as Array<Record<string, unknown>>])) as Rows;
  const problems: string[] = [];
  for (const f of files) {
    const parsed = parseScaffoldingFile(f.name, f.text);
    for (const r of parsed.rows) out[r.kind].push(r.body);
    problems.push(...parsed.problems.map(formatProblem));
  }
  return { rows: out, problems };
}

/** Rows without their null fields: an empty CSV cell leaves a field out (a new row then gets the default, null). */
const withoutNulls = (rows: Rows): Rows =>
  Object.fromEntries(
    Object.entries(rows).map(([k, list]) => [k, list.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)))]),
  ) as Rows;

describe('scaffolding CSV files', () => {
  const yaml = bodies([{ name: 'scaffolding.yaml', text: fs.readFileSync(path.join(EXAMPLE, 'scaffolding.yaml'), 'utf8') }]);
  expect(JSON.stringify(yaml.rows)).toContain('"emotionalArcType":null');

  it('the example as one CSV file per kind reads as the same rows as its YAML', () => {
    const dir = path.join(EXAMPLE, 'csv');
    const csv = bodies(fs.readdirSync(dir).map((n) => ({ name: path.join(dir, n), text: fs.readFileSync(path.join(dir, n), 'utf8') })));
    expect(csv.problems).toEqual([]);
    expect(csv.rows).toEqual(withoutNulls(yaml.rows));
  });

  it('export as CSV (one file, a kind column) reads back as the same rows, nulls as left-out fields', () => {
    const withNull = { ...yaml.rows, topics: [...yaml.rows.topics, { topicKey: 'x_topic', name: 'n', category: 'c', description: null }] };
    const text = stringifyScaffolding(withNull, 'csv');
    expect(text.split('\n')[0]!.startsWith('kind,personaKey,')).toBe(true);
    const back = bodies([{ name: 'anything.csv', text }]);
    expect(back.problems).toEqual([]);
    expect(back.rows).toEqual(withoutNulls(withNull));
  });

  it('names file, line and field of every problem: a bad cell, a schema issue, an unknown kind; lines count quoted line breaks', () => {
    const text = [
      'kind,topicKey,name,category,arcKey,startingEmotion,endingEmotion,typicalTurnCountMin,typicalTurnCountMax,conversationCategory',
      'topics,t_one,"a name',
      'over two lines",identity,,,,,,',
      '',
      'emotionalArcs,,,,a_one,calm,calm,four,8,core',
      'emotionalArcs,,Arc,,a_two,calm,calm,4,8,sideways',
      'widgets,,,,,,,,,',
    ].join('\n');
    const { rows, problems } = bodies([{ name: 'mixed.csv', text }]);
    expect(rows.topics).toEqual([{ topicKey: 't_one', name: 'a name\nover two lines', category: 'identity' }]);
    expect(problems).toEqual([
      "mixed.csv:5: emotionalArcs[0].typicalTurnCountMin: expected an integer, got 'four'",
      'mixed.csv:6: emotionalArcs[1].conversationCategory: expected one of core, edge',
      "mixed.csv:7: unknown kind 'widgets' (expected personas, emotionalArcs, topics, templates)",
    ]);
  });

  it('a file per kind is named after it; a typo in a column, a bad JSON cell and broken quoting are named', () => {
    expect(bodies([{ name: 'saas_emotional_arcs.csv', text: 'arcKey,name\nk,n\n' }]).problems[0]).toMatch(
      /^saas_emotional_arcs\.csv:2: emotionalArcs\[0\]\.startingEmotion: /,
    );
    expect(bodies([{ name: 'rows.csv', text: 'personaKey\np\n' }]).problems).toEqual([
      "rows.csv:1: a CSV file without a 'kind' column must be named after its kind (personas.csv, emotional-arcs.csv, topics.csv, templates.csv)",
    ]);
    expect(bodies([{ name: 'personas.csv', text: 'personaKey,nmae\np,x\n' }]).problems).toEqual([
      "personas.csv:1: unknown column 'nmae': not a field of personas",
    ]);
    expect(bodies([{ name: 'personas.csv', text: 'personaKey,name,archetype,demographics\np,n,a,{role: admin}\n' }]).problems).toEqual([
      "personas.csv:2: personas[0].demographics: expected a JSON object, got '{role: admin}'",
    ]);
    expect(bodies([{ name: 'topics.csv', text: 'topicKey,name\nt,"open\n' }]).problems[0]).toMatch(
      /^topics\.csv:2: syntax: Quote Not Closed/,
    );
  });
});
