import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../src/temporal/worker';

// Histories recorded from real batches (test/fixtures/record-histories.ts). Every file stands for a
// batch that was running when a deploy happened: the workflow code of today must replay each one
// exactly. Never re-record a file to make this pass: ship the change behind patched() instead.
const DIR = path.join(__dirname, '..', 'fixtures', 'histories');
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

const runsByHistory = files.filter((f) => f.startsWith('runs-by-history'));
const readHistory = (file: string) => historyFromJSON(JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')));

describe('recorded histories replay against the workflow code of today', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  });

  it('holds the five shapes of a batch (completed, paused+resumed, cancelled, stop policy, continued-as-new with handed-back items)', () => {
    for (const shape of ['completed', 'paused-resumed', 'cancelled', 'stop-policy', 'continue-as-new-handed-back']) {
      expect(
        files.some((f) => f.startsWith(shape)),
        shape,
      ).toBe(true);
    }
  });

  const patchIds = (file: string) =>
    readHistory(file)
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((e) => {
        const data = e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!;
        return (JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id;
      });

  it("the provider-batch mode shipped behind patched('provider-batch'): its recording polls with timers and has both markers", () => {
    const history = readHistory('provider-batch.json');
    expect(patchIds('provider-batch.json')).toEqual(['spend-cap', 'provider-batch']);
    const activities = history.events!.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(activities).toContain('submitChunk');
    expect(activities).toContain('pollChunks');
    expect(activities).not.toContain('processLane');
    expect(history.events!.some((e) => e.timerStartedEventAttributes)).toBe(true);
  });

  it("the spend cap shipped behind patched('spend-cap'): its recording has the marker, the histories recorded before it have none and replay", () => {
    const capped = files.filter((f) => f.startsWith('spend-cap'));
    expect(capped.length).toBeGreaterThan(0);
    for (const f of capped) expect(patchIds(f)).toEqual(['spend-cap']);
    for (const f of ['completed.json', 'paused-resumed.json', 'cancelled.json', 'stop-policy.json']) expect(patchIds(f)).toEqual([]);
  });

  it("a cancel ends without a sync before finalizeJob behind patched('cancel-ends-without-sync'); the older cancelled history syncs and replays", () => {
    const activitiesAfterCancel = (file: string) => {
      const events = readHistory(file).events!;
      const signalAt = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'cancel');
      return events
        .slice(signalAt)
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
        .filter(Boolean);
    };
    expect(patchIds('cancel-without-sync.json')).toEqual(['spend-cap', 'cancel-ends-without-sync']);
    // Its lanes ended holding their items (they completed: no settle activity), and the row is written once, at the end.
    expect(activitiesAfterCancel('cancel-without-sync.json')).toEqual(['finalizeJob']);
    expect(activitiesAfterCancel('cancelled.json')).toContain('syncJob');
    expect(patchIds('cancelled.json')).toEqual([]);
  });

  it("lanes are sized by the window behind patched('lanes-by-window'): its recording has lanes the older rule would not make; no older file has the marker", () => {
    expect(patchIds('lanes-by-window.json')).toEqual(['spend-cap', 'lanes-by-window']);
    const laneSizes = readHistory('lanes-by-window.json')
      .events!.map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'processLane')
      .map((a) => (JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString('utf8')) as { itemIds: string[] }).itemIds.length);
    // laneTargetMs 200 over 100 ms items: at most 2 a lane by the older rule; 1.2 s lanes by the window (3 x 400 ms).
    expect(Math.max(...laneSizes)).toBeGreaterThan(2);
    expect(laneSizes.reduce((a, b) => a + b, 0)).toBe(16);
    // Recordings made later carry it too (pages-by-window.json, runs-by-history-run*.json); the ones before it do not.
    const later = ['lanes-by-window.json', 'pages-by-window.json', ...runsByHistory];
    for (const f of files.filter((f) => !later.includes(f))) expect(patchIds(f)).not.toContain('lanes-by-window');
  });

  it("pages are sized by the window behind patched('pages-by-window'): its recording asks for pages the older rule would not; no older file has the marker", () => {
    const pageLimits = (file: string) =>
      readHistory(file)
        .events!.map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'fetchItemPage')
        .map((a) => (JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString('utf8')) as { limit: number }).limit);
    expect(patchIds('pages-by-window.json')).toEqual(['spend-cap', 'lanes-by-window', 'pages-by-window']);
    // A window of 110 one-item lanes: pages of 110, where every older recording asked for the default 100 (or its test's own).
    expect(pageLimits('pages-by-window.json')[0]).toBe(110);
    expect(pageLimits('lanes-by-window.json').every((limit) => limit === 100)).toBe(true);
    const later = ['pages-by-window.json', ...runsByHistory];
    for (const f of files.filter((f) => !later.includes(f))) expect(patchIds(f)).not.toContain('pages-by-window');
  });

  it("runs are planned by their history behind patched('runs-by-history'): its first run continued-as-new by its bytes, far below the older rule's events; no older file has the marker", () => {
    expect(runsByHistory).toEqual(['runs-by-history-run1.json', 'runs-by-history-run2.json']);
    for (const f of runsByHistory) expect(patchIds(f)).toEqual(['spend-cap', 'lanes-by-window', 'pages-by-window', 'runs-by-history']);
    const events = readHistory('runs-by-history-run1.json').events!;
    expect(events.at(-1)!.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // Its budget was 40,000 bytes (bytesPerRun): the last workflow task saw the history past it, at a few hundred events.
    const sizes = events.map((e) => Number(e.workflowTaskStartedEventAttributes?.historySizeBytes ?? 0)).filter((n) => n > 0);
    expect(sizes.at(-1)).toBeGreaterThanOrEqual(40_000);
    expect(events.length).toBeLessThan(1000);
    for (const f of files.filter((f) => !runsByHistory.includes(f))) expect(patchIds(f)).not.toContain('runs-by-history');
  });

  it('replays every file with no determinism error', async () => {
    const histories = files.map((file) => ({ workflowId: file, history: readHistory(file) }));
    const errors: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      replayed++;
      if (result.error) errors.push(`${result.workflowId}: ${String(result.error)}`);
    }
    expect(errors).toEqual([]);
    expect(replayed).toBe(files.length);
  });

  it('fails a tampered copy (an activity the code does not schedule) with a determinism error, so the replay can fail', async () => {
    const history = readHistory('completed.json');
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'processLane');
    scheduled!.activityTaskScheduledEventAttributes!.activityType!.name = 'someOtherActivity';
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, [{ workflowId: 'tampered', history }])) results.push(r);
    expect(results).toHaveLength(1);
    expect(results[0]!.error?.name).toBe('DeterminismViolationError');
  });
});
