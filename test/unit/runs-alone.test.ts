import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import config from '../../vitest.config';
import { TEST_STACK_ENV } from '../helpers/test-stack';

/** True when something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the unit tier needs no server', () => {
  it('its project has no global setup (the stack is booted only for the integration project)', () => {
    const projects = (config.test?.projects ?? []) as Array<{ test: { name: string; globalSetup?: unknown } }>;
    const unit = projects.find((p) => p.test.name === 'unit');
    expect(unit).toBeDefined();
    expect(unit!.test.globalSetup).toBeUndefined();
    expect(projects.find((p) => p.test.name === 'integration')?.test.globalSetup).toEqual(['test/global-setup.ts']);
  });

  // CI runs `npm run test:unit` before any service is started: there, nothing of a stack may be up.
  // On a developer's machine a `bulkgen dev` may well be running beside it, so this part is CI's.
  it.runIf(process.env.CI === 'true')('runs while no Postgres, PostgREST or stack Temporal is up (CI)', async () => {
    const ports = [
      TEST_STACK_ENV.BULKGEN_PG_PORT,
      TEST_STACK_ENV.BULKGEN_GATEWAY_PORT,
      TEST_STACK_ENV.BULKGEN_POSTGREST_PORT,
      TEST_STACK_ENV.BULKGEN_TEMPORAL_PORT,
      '54322',
      '54321',
      '7233',
    ];
    const open = [];
    for (const port of ports) if (await listening(Number(port))) open.push(port);
    expect(open).toEqual([]);
    const processes = execFileSync('ps', ['-eo', 'comm='], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim());
    expect(processes.filter((p) => p === 'postgres' || p === 'postgrest')).toEqual([]);
  });
});
