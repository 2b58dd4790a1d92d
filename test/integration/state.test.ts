import { execFileSync, spawn } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { stateError } from '../../lib/errors.js';
import { startService } from '../../lib/orchestrate/start-service.js';
import { systemInspector } from '../../lib/os/inspector.js';
import {
  MAX_STATE_FILE,
  readFileSafe,
  removeStaleTempFiles,
  writeFileAtomic,
} from '../../lib/state/files.js';
import { stackOf } from '../../lib/state/marker.js';
import { servicePaths } from '../../lib/state/paths.js';
import { portsOf, removeRecord, type ServiceRecord } from '../../lib/state/record.js';
import { readServiceState } from '../../lib/state/service-state.js';
import { isAlive, track, waitFor } from '../helpers/procs.js';
import { earlierStartTime } from '../helpers/records.js';
import { failure, makeStack, nodeFixture, spawnPlain } from '../helpers/stack.js';
import { project } from '../helpers/tmp.js';

const inspector = systemInspector();

/** Starts `sleep.mjs` as service `svc` and returns the config and record. */
async function started() {
  const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
  const outcome = await startService(config, 'svc', { inspector });
  expect(outcome.kind).to.equal('started');
  track(outcome.record.pid);
  return { config, record: outcome.record };
}

function writeRecordFile(pidDir: string, record: ServiceRecord): void {
  const paths = servicePaths(pidDir, record.service);
  writeFileSync(paths.record, JSON.stringify(record));
  writeFileSync(paths.pid, `${record.pid}\n`);
}

describe('state: records and PID files', () => {
  it('writes the PID file as the decimal PID and a newline, and a record beside it', async () => {
    const { config, record } = await started();
    const paths = servicePaths(config.pidDir, 'svc');
    expect(readFileSync(paths.pid, 'utf8')).to.equal(`${record.pid}\n`);
    const onDisk = JSON.parse(readFileSync(paths.record, 'utf8')) as ServiceRecord;
    expect(onDisk).to.include({ pid: record.pid, pgid: record.pid, service: 'svc', version: 1 });
    expect(onDisk.bootId).to.equal(inspector.bootId());
    expect(onDisk.instance).to.match(/^[\w.-]+-[0-9a-f]{8}\/svc\/[0-9a-f]{12}$/);
    expect(readServiceState(config.pidDir, 'svc', inspector, stackOf(config)).kind).to.equal(
      'running',
    );
  });

  it("reads a record with its ports as an object (an earlier launchguard's) as running", async () => {
    const { config, record } = await started();
    const old = { ...record, ports: { svc: 4100, api: 4101, bad: 'x' } };
    writeRecordFile(config.pidDir, old as unknown as ServiceRecord);
    const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
    expect(state.kind).to.equal('running');
    if (state.kind !== 'running') return;
    expect(portsOf(state.record)).to.deep.equal({ svc: 4100, api: 4101 });
  });

  it('a stale record (process gone) reads as stale and is replaced by the next start', async () => {
    const { config, record } = await started();
    process.kill(record.pid, 'SIGKILL');
    await waitFor(() => !isAlive(record.pid), 3000, 'the service to die');
    const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
    expect(state.kind).to.equal('stale');
    const next = await startService(config, 'svc', { inspector });
    expect(next.kind).to.equal('started');
    if (next.kind !== 'started') return;
    track(next.record.pid);
    expect(next.cleared[0]).to.match(/removed the stale record of svc/);
    expect(readFileSync(servicePaths(config.pidDir, 'svc').pid, 'utf8')).to.equal(
      `${next.record.pid}\n`,
    );
  });

  it('a PID reused by an unrelated process is reported as reused and never signalled', async () => {
    const { config, record } = await started();
    process.kill(record.pid, 'SIGKILL');
    const decoy = spawnPlain(nodeFixture('sleep.mjs'));
    await waitFor(() => isAlive(decoy.pid as number), 3000, 'the decoy');
    // The record now names the decoy's PID with an earlier start time: a reused PID. (Not
    // the service's own start time: both may fall in the same 10 ms clock tick.)
    writeRecordFile(config.pidDir, {
      ...record,
      pid: decoy.pid as number,
      pgid: decoy.pid as number,
      startTime: earlierStartTime(record.startTime),
    });
    const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
    expect(state.kind).to.equal('reused');
    const next = await startService(config, 'svc', { inspector });
    expect(next.kind).to.equal('started');
    if (next.kind === 'started') track(next.record.pid);
    await sleep(50);
    expect(isAlive(decoy.pid as number), 'decoy survives').to.equal(true);
  });

  it('a zombie counts as dead', async () => {
    const dir = project({});
    const pidFile = join(dir, 'zombie.pid');
    // The background sleep exits after its parent has exec'd into a sleep that never reaps it.
    // Detached, like a service: a process in the launcher's own session is protected.
    const parent = spawn('sh', ['-c', `sleep 0.2 & echo $! > ${pidFile}; exec sleep 30`], {
      stdio: 'ignore',
      detached: true,
    });
    track(parent.pid as number);
    // The shell creates the file before echo writes into it: an empty file is not the PID yet.
    await waitFor(
      () => {
        const read = readFileSafe(pidFile);
        return read.kind === 'ok' && /^\d+\n$/.test(read.text);
      },
      3000,
      'the zombie pid',
    );
    const zombie = Number(readFileSync(pidFile, 'utf8'));
    await waitFor(
      () => {
        const l = inspector.lookup(zombie);
        return l.kind === 'alive' && l.info.state === 'Z';
      },
      3000,
      'the zombie state',
    );
    const config = await makeStack({ svc: { command: 'x' } });
    mkdirSync(config.pidDir);
    writeFileSync(servicePaths(config.pidDir, 'svc').pid, `${zombie}\n`);
    const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
    expect(state).to.include({ kind: 'stale', pid: zombie });
    parent.kill('SIGKILL');
  });

  it('no permission to inspect (EPERM) means alive but unverifiable, never dead', async () => {
    const { config } = await started();
    const denied = { ...inspector, lookup: () => ({ kind: 'denied' as const }) };
    const state = readServiceState(config.pidDir, 'svc', denied, stackOf(config));
    expect(state.kind).to.equal('unverifiable');
    if (state.kind === 'unverifiable') expect(state.reason).to.match(/EPERM/);
  });

  describe('bad PID file contents are corrupt, never signalled', () => {
    const contents: [string, () => string][] = [
      ['empty', () => ''],
      ['0', () => '0\n'],
      ['1', () => '1\n'],
      ['-1', () => '-1\n'],
      ['12abc', () => '12abc\n'],
      ['12.5', () => '12.5\n'],
      ['0x1A', () => '0x1A\n'],
      ['huge', () => '99999999999\n'],
      ['NUL', () => '12\u00003\n'],
      ['two lines', () => '12\n13\n'],
      ['CRLF', () => `${process.pid}\r\n`],
      ['BOM', () => `\ufeff${process.pid}\n`],
      ['the runner itself', () => `${process.pid}\n`],
      ['the runner parent', () => `${process.ppid}\n`],
    ];
    for (const [name, content] of contents) {
      it(`${name}`, async () => {
        const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
        mkdirSync(config.pidDir);
        const pidFile = servicePaths(config.pidDir, 'svc').pid;
        writeFileSync(pidFile, content());
        const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
        expect(state.kind).to.equal('corrupt');
        // A start moves the bad file aside (kept, not deleted) and starts cleanly.
        const next = await startService(config, 'svc', { inspector });
        expect(next.kind).to.equal('started');
        if (next.kind === 'started') track(next.record.pid);
        expect(readFileSync(`${pidFile}.corrupt`, 'utf8')).to.equal(content());
      });
    }
  });

  it('a FIFO, a folder, /dev/zero through a link, or 50 MB in place of the PID file: no hang', async () => {
    const config = await makeStack({ svc: { command: 'x' } });
    mkdirSync(config.pidDir);
    const pidFile = servicePaths(config.pidDir, 'svc').pid;
    execFileSync('mkfifo', [pidFile]);
    expect(readServiceState(config.pidDir, 'svc', inspector, stackOf(config))).to.deep.include({
      kind: 'corrupt',
      reason: 'it is a FIFO',
    });
    const dirCase = await makeStack({ svc: { command: 'x' } });
    mkdirSync(servicePaths(dirCase.pidDir, 'svc').pid, { recursive: true });
    expect(readServiceState(dirCase.pidDir, 'svc', inspector, stackOf(dirCase))).to.deep.include({
      kind: 'corrupt',
    });
    const zero = await makeStack({ svc: { command: 'x' } });
    mkdirSync(zero.pidDir);
    symlinkSync('/dev/zero', servicePaths(zero.pidDir, 'svc').pid);
    expect(readServiceState(zero.pidDir, 'svc', inspector, stackOf(zero))).to.deep.include({
      kind: 'corrupt',
      reason: 'it is a symbolic link',
    });
    const big = await makeStack({ svc: { command: 'x' } });
    mkdirSync(big.pidDir);
    writeFileSync(servicePaths(big.pidDir, 'svc').pid, Buffer.alloc(50 * 1024 * 1024, 0x31));
    const state = readServiceState(big.pidDir, 'svc', inspector, stackOf(big));
    expect(state.kind).to.equal('corrupt');
    if (state.kind === 'corrupt') expect(state.reason).to.match(/too large/);
  });

  it('a symlinked PID file is replaced, never written through; its target stays byte-identical', async () => {
    const config = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    mkdirSync(config.pidDir);
    const victim = join(config.root, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, servicePaths(config.pidDir, 'svc').pid);
    symlinkSync(victim, servicePaths(config.pidDir, 'svc').record);
    const next = await startService(config, 'svc', { inspector });
    if (next.kind === 'started') track(next.record.pid);
    expect(next.kind).to.equal('started');
    expect(readFileSync(victim, 'utf8')).to.equal('precious\n');
    expect(readFileSync(servicePaths(config.pidDir, 'svc').pid, 'utf8')).to.match(/^\d+\n$/);
  });

  it('a record from another boot is unverifiable and nothing is signalled', async () => {
    const { config, record } = await started();
    writeRecordFile(config.pidDir, { ...record, bootId: 'another-boot' });
    const state = readServiceState(config.pidDir, 'svc', inspector, stackOf(config));
    expect(state).to.deep.include({ kind: 'unverifiable', reason: 'recorded in another boot' });
    if (inspector.pidNamespace() !== null) {
      // Only where namespaces can be told apart (/proc; not the ps backend).
      writeRecordFile(config.pidDir, { ...record, pidNamespace: 'pid:[1]' });
      expect(readServiceState(config.pidDir, 'svc', inspector, stackOf(config))).to.deep.include({
        kind: 'unverifiable',
        reason: 'recorded in another PID namespace',
      });
    }
    expect(isAlive(record.pid)).to.equal(true);
  });

  it('a process whose comm has spaces and parentheses is read correctly from /proc', async () => {
    // The /proc parser itself, whatever LAUNCHGUARD_BACKEND says (ps output: unit tests).
    const inspector = systemInspector('linux', 'linux');
    const dir = project({});
    const link = join(dir, 'we ir) d (x');
    symlinkSync('/bin/sleep', link);
    const child = spawn(link, ['30'], { stdio: 'ignore' });
    track(child.pid as number);
    await waitFor(
      () => inspector.lookup(child.pid as number).kind === 'alive',
      3000,
      'the process',
    );
    const looked = inspector.lookup(child.pid as number);
    expect(looked.kind).to.equal('alive');
    if (looked.kind === 'alive') {
      expect(looked.info.comm).to.equal('we ir) d (x');
      expect(looked.info.ppid).to.equal(process.pid);
      expect(looked.info.startTime).to.match(/^\d+$/);
    }
    child.kill('SIGKILL');
  });

  it('a state file is read whole up to the size limit, refused past it, and whole when its size lies', () => {
    const dir = project({});
    const full = join(dir, 'full.json');
    const text = `"${'é'.repeat((MAX_STATE_FILE - 2) / 2)}"`; // two bytes a character
    writeFileSync(full, text);
    expect(readFileSafe(full)).to.deep.equal({ kind: 'ok', text });
    writeFileSync(full, `${text} `);
    expect(readFileSafe(full).kind).to.equal('invalid');
    // A file whose stat says 0 bytes (as in /proc) is still read to its end.
    const cmdline = readFileSync('/proc/self/cmdline', 'utf8');
    expect(readFileSafe('/proc/self/cmdline')).to.deep.equal({ kind: 'ok', text: cmdline });
  });

  it('a reader never sees a torn record while writers replace it', async () => {
    const dir = project({});
    const file = join(dir, 'r.json');
    writeFileAtomic(file, JSON.stringify({ n: 0, pad: 'x'.repeat(20_000) }));
    const writer = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { writeFileAtomic } = await import(${JSON.stringify(new URL('../../lib/state/files.js', import.meta.url).href)});
         for (let i = 1; i <= 400; i++) writeFileAtomic(${JSON.stringify(file)}, JSON.stringify({ n: i, pad: 'x'.repeat(20_000 + i) }));`,
      ],
      { stdio: 'inherit' },
    );
    track(writer.pid as number);
    let reads = 0;
    let done = false;
    writer.on('exit', () => {
      done = true;
    });
    while (!done) {
      const read = readFileSafe(file);
      expect(read.kind).to.equal('ok');
      if (read.kind === 'ok') JSON.parse(read.text); // throws on a torn file
      reads++;
      await sleep(0);
    }
    expect(reads).to.be.greaterThan(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('temp files of a writer killed between write and rename are removed', async () => {
    const dir = project({ '.svc.pid.99999999-0123456789ab.tmp': '123', 'keep.txt': 'x' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, '.svc.pid.99999999-0123456789ab.tmp'), old, old);
    expect(removeStaleTempFiles(dir)).to.deep.equal([
      join(dir, '.svc.pid.99999999-0123456789ab.tmp'),
    ]);
    expect(readdirSync(dir)).to.deep.equal(['keep.txt']);
  });

  it('an unusable state folder is a clear E_STATE error, and a spawned service is rolled back', async () => {
    const config = await makeStack(
      { svc: { command: nodeFixture('sleep.mjs') } },
      { pidDir: 'state-file' },
    );
    writeFileSync(config.pidDir, 'I am a file');
    const unusable = await failure(startService(config, 'svc', { inspector }));
    expect(unusable.code).to.equal('E_STATE');
    expect(unusable.message).to.include(config.pidDir);
    const rollback = await makeStack({ svc: { command: nodeFixture('sleep.mjs') } });
    let spawnedPid = 0;
    const refused = await failure(
      startService(rollback, 'svc', {
        inspector,
        writeRecord: (_dir, record) => {
          spawnedPid = record.pid;
          const err = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
          throw stateError(rollback.pidDir, 'cannot write the record', err, 'svc');
        },
      }),
    );
    expect(refused.code).to.equal('E_STATE');
    expect(refused.message).to.match(/svc: cannot write the record: .* \(EROFS\)/);
    expect(spawnedPid).to.be.greaterThan(1);
    expect(isAlive(spawnedPid), 'the spawned service was stopped').to.equal(false);
  });

  it('a record is not deleted once another instance has replaced it', async () => {
    const { config, record } = await started();
    const other = { ...record, instance: record.instance.replace(/[0-9a-f]{12}$/, '0123456789ab') };
    writeRecordFile(config.pidDir, other);
    expect(removeRecord(config.pidDir, record, 'svc')).to.equal(false);
    expect(readServiceState(config.pidDir, 'svc', inspector, stackOf(config)).kind).not.to.equal(
      'none',
    );
    expect(removeRecord(config.pidDir, other, 'svc')).to.equal(true);
    expect(readServiceState(config.pidDir, 'svc', inspector, stackOf(config)).kind).to.equal(
      'none',
    );
  });
});
