/**
 * JSON.parse keeps the last of two equal keys without a word, so `"root": "/srv/tftp", ... "root": "/"`
 * would serve the whole filesystem. This pass over the text (jsonc-parser's visitor, which reports
 * the line of each property) finds the first key written twice in one object.
 */
import { visit } from 'jsonc-parser';

export interface DuplicateKey {
  key: string;
  /** 1-based lines of the first and the repeated occurrence. */
  line: number;
  firstLine: number;
  /** Where the object sits, e.g. `dhcp.subnets[0]`. */
  path: string;
}

export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Map<string, number>[] = [];
  let found: DuplicateKey | undefined;
  visit(text, {
    onObjectBegin: () => {
      stack.push(new Map());
    },
    onObjectEnd: () => {
      stack.pop();
    },
    onObjectProperty: (key, _offset, _length, startLine, _char, pathSupplier) => {
      const keys = stack[stack.length - 1];
      if (!keys || found) return;
      const first = keys.get(key);
      if (first !== undefined)
        found = { key, line: startLine + 1, firstLine: first + 1, path: showPath(pathSupplier()) };
      else keys.set(key, startLine);
    },
  });
  return found;
}

function showPath(p: (string | number)[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${k}` : k;
  return out || '(top level)';
}
