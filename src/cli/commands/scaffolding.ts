import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createDb } from '../../db/client';
import { BulkgenError } from '../../errors';
import { describeImport } from '../../scaffolding/describe-import';
import { SCAFFOLDING_FORMATS, stringifyScaffolding, type ScaffoldingFormat } from '../../scaffolding/files';
import { exportScaffolding, importScaffolding, type ImportFile } from '../../scaffolding/import';
import { previewPrompt } from '../../scaffolding/preview';
import { Tier } from '../../domain/enums';
import { clientConfig, info } from '../env';

const EXTENSIONS = ['.yaml', '.yml', '.json', '.csv'];

/** The files of a path: the file itself, or every .yaml/.yml/.json/.csv file of a folder, by name. */
function readFiles(target: string): ImportFile[] {
  if (!fs.existsSync(target)) throw new BulkgenError('NOT_FOUND', { what: `file or folder '${target}'` });
  const names = fs.statSync(target).isDirectory()
    ? fs
        .readdirSync(target)
        .filter((n) => EXTENSIONS.includes(path.extname(n).toLowerCase()))
        .sort()
        .map((n) => path.join(target, n))
    : [target];
  if (names.length === 0) throw new BulkgenError('NOT_FOUND', { what: `a .yaml, .yml, .json or .csv file in '${target}'` });
  return names.map((name) => ({ name, text: fs.readFileSync(name, 'utf8') }));
}

/** `bulkgen import <path> [--dry-run] [--json]` and `bulkgen export-scaffolding [--out file]`. */
export function registerScaffoldingCommands(program: Command): void {
  program
    .command('import <path>')
    .description(
      'upsert personas, emotional arcs, topics and templates by natural key from a YAML, JSON or CSV file (or a folder of them), all or nothing',
    )
    .option('--dry-run', 'print what would change and write nothing')
    .option('--json', 'print the result as JSON')
    .action(async (target: string, o: { dryRun?: boolean; json?: boolean }) => {
      const db = createDb(clientConfig());
      const result = await importScaffolding(db, readFiles(target), { dryRun: o.dryRun === true });
      if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else process.stdout.write(`${describeImport(result).join('\n')}\n`);
      info(result.dryRun ? 'dry run: nothing was written' : 'imported');
    });

  program
    .command('preview')
    .description(
      'the prompt an item would send (no model call): its length, an estimated token count, and which template auto-selection picks and why',
    )
    .requiredOption('--persona <id>', 'persona id')
    .requiredOption('--arc <id>', 'emotional arc id')
    .requiredOption('--topic <id>', 'topic id')
    .option('--template <id>', 'template id (absent or the NIL uuid: auto-select)')
    .option('--tier <tier>', 'template | scenario | edge_case', 'template')
    .option('--json', 'print the result as JSON')
    .action(async (o: { persona: string; arc: string; topic: string; template?: string; tier: string; json?: boolean }) => {
      const tier = Tier.safeParse(o.tier);
      if (!tier.success)
        throw new BulkgenError('VALIDATION_FAILED', { summary: `--tier: expected template, scenario or edge_case, got '${o.tier}'` });
      const r = await previewPrompt(createDb(clientConfig()), {
        personaId: o.persona,
        emotionalArcId: o.arc,
        topicId: o.topic,
        templateId: o.template,
        tier: tier.data,
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      info(
        `template ${r.template.templateName} (version ${r.template.version})${r.selection ? `, auto-selected by ${r.selection.rule}: ${r.selection.reason}` : ''}`,
      );
      info(`${r.characters} characters, ~${r.estimatedTokens} tokens (characters / 4)`);
      process.stdout.write(`${r.prompt}\n`);
    });

  program
    .command('export-scaffolding')
    .description(
      'every persona, arc, topic and template as one file `bulkgen import` takes (YAML; JSON or CSV when --out ends in .json or .csv)',
    )
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option('--format <format>', 'yaml | json | csv (default: from --out, else yaml)')
    .action(async (o: { out?: string; format?: string }) => {
      const fromOut = o.out === undefined ? undefined : path.extname(o.out).slice(1).toLowerCase();
      const format = o.format ?? (fromOut === 'json' || fromOut === 'csv' ? fromOut : 'yaml');
      if (!(SCAFFOLDING_FORMATS as readonly string[]).includes(format)) {
        throw new BulkgenError('VALIDATION_FAILED', { summary: `--format: expected yaml, json or csv, got '${format}'` });
      }
      const text = stringifyScaffolding(await exportScaffolding(createDb(clientConfig())), format as ScaffoldingFormat);
      if (o.out === undefined) process.stdout.write(text);
      else {
        fs.writeFileSync(o.out, text);
        info(`wrote ${o.out}`);
      }
    });
}
