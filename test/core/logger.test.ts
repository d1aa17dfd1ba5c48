import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicrobatchError, silentLogger, stderrLogger } from '../../src/index.js';

describe('stderrLogger', () => {
  afterEach(() => vi.restoreAllMocks());

  const capture = () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return lines;
  };

  it('writes warnings and errors as one line each, with the error message and code', () => {
    const lines = capture();
    stderrLogger.warn({ pipeline: 'p', attempt: 2 }, 'sink write: retrying');
    stderrLogger.error(
      { err: new MicrobatchError('MB_SINK_FAILED', 'batch p.0.1-2 failed: disk full') },
      'pipeline failed',
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('microbatch WARN sink write: retrying {"pipeline":"p","attempt":2}\n');
    expect(lines[1]).toMatch(/^microbatch ERROR pipeline failed \{.*\}\n$/);
    const context = JSON.parse(lines[1]!.slice('microbatch ERROR pipeline failed '.length));
    expect(context.err).toMatchObject({ code: 'MB_SINK_FAILED', message: 'batch p.0.1-2 failed: disk full' });
  });

  it('drops debug and info; silentLogger writes nothing', () => {
    const lines = capture();
    stderrLogger.debug({}, 'd');
    stderrLogger.info({}, 'i');
    silentLogger.error({}, 'e');
    expect(lines).toEqual([]);
  });

  it('survives a context that cannot be serialised', () => {
    const lines = capture();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    stderrLogger.warn(circular, 'odd');
    expect(lines).toEqual(['microbatch WARN odd {}\n']);
  });
});
