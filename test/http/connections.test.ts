import { describe, expect, it } from 'vitest';
import { ConnectionTable } from '../../packages/core/src/connections.js';

function table(maxConnections: number, maxPerClient: number) {
  const closed: [string, string][] = [];
  const t = new ConnectionTable<string>({ maxConnections, maxPerClient }, (c, why) => closed.push([c, why]));
  return { t, closed };
}

describe('ConnectionTable', () => {
  it("at the per-client cap closes that client's longest-idle connection, never another client's", () => {
    const { t, closed } = table(100, 2);
    expect(['a1', 'b1', 'a2'].map((c) => t.admit(c, c[0]!))).toEqual(['admitted', 'admitted', 'admitted']);
    expect(t.admit('a3', 'a')).toBe('admitted');
    expect(closed).toEqual([['a1', 'client-cap']]);
    expect([t.size, t.clientCount('a'), t.clientCount('b')]).toEqual([3, 2, 1]);
  });

  it('a connection that served a response becomes the newest idle one', () => {
    const { t, closed } = table(3, 10);
    for (const c of ['x', 'y', 'z']) t.admit(c, c);
    t.busy('x');
    t.done('x'); // x is now idle again, after y and z
    t.admit('n1', 'n');
    t.admit('n2', 'n');
    expect(closed.map(([c]) => c)).toEqual(['y', 'z']);
  });

  it('busy connections are never closed; with none idle the new one is refused', () => {
    const { t, closed } = table(2, 2);
    t.admit('a', 'p');
    t.admit('b', 'q');
    t.busy('a');
    t.busy('b');
    t.busy('b'); // pipelined: two responses
    expect(t.admit('c', 'r')).toBe('refused');
    t.done('b');
    expect(t.admit('c', 'r')).toBe('refused'); // b still has a response running
    t.done('b');
    expect(t.admit('c', 'r')).toBe('admitted');
    expect(closed).toEqual([['b', 'global-cap']]);
    expect(t.idleCount()).toBe(1);
  });

  it('forgets closed connections and clients with none left', () => {
    const { t } = table(10, 1);
    t.admit('a', 'p');
    t.remove('a');
    t.remove('a');
    t.done('a');
    expect([t.size, t.clientCount('p'), t.idleCount()]).toEqual([0, 0, 0]);
    expect(t.admit('b', 'p')).toBe('admitted');
  });
});
