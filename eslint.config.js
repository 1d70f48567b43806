// ESLint 9 flat config: typescript-eslint's recommended-type-checked on the TypeScript (typed through the root
// tsconfig.json, the same program `npm run typecheck` checks), ESLint's recommended on the plain .mjs/.js
// scripts, then eslint-config-prettier so that no rule argues with Prettier about layout. Run: `npm run lint`.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// `_`-prefixed names and rest siblings mark what is left out on purpose (`const { a: _a, ...rest } = o`).
const unusedVars = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true };

export default defineConfig(
  globalIgnores([
    '**/dist/',
    'packages/*/build/',
    'docs/api/',
    'bench/results/',
    '.ci/peers/',
    '.vitest/',
    '**/*.d.ts',
    '**/*.d.mts',
  ]),
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts', '**/*.cts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The servers are typed EventEmitters: `declare interface XServer { on(event: 'x', ...): this }` merged
      // with `class XServer extends EventEmitter` only types the events; the interface declares nothing the
      // class does not inherit, which is the one case this rule cannot tell from a real hole.
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
      '@typescript-eslint/no-unused-vars': ['error', unusedVars],
      // An async function without await is how a Promise-returning interface is implemented with synchronous
      // code here (lease stores, resolvers, test doubles): a throw in it becomes a rejection, as callers expect.
      '@typescript-eslint/require-await': 'off',
      // prom-client calls a gauge's collect() with `this` bound to the gauge: the owner is reached as `self`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.test.ts'],
    rules: {
      // Spies save `Class.prototype.method` to call it back with `.call(this, ...)`, the one correct way to
      // wrap a method; the rule flags every such save.
      '@typescript-eslint/unbound-method': 'off',
      // vitest's asymmetric matchers (expect.any, expect.stringMatching, ...) are typed `any` by design.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    rules: {
      // Names, credentials and config values are checked for control characters on purpose (hostile input).
      'no-control-regex': 'off',
      // A `let` assigned later but read before, in a closure made earlier (a signal handler, a cleanup), cannot
      // be a const: reading a const before its declaration throws.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
    rules: { 'no-unused-vars': ['error', unusedVars] },
  },
  prettier,
  {
    // After eslint-config-prettier, which turns max-len off: Prettier wraps code at 120 but leaves comments,
    // strings and template literals as they are, so those are held to the same width here.
    rules: {
      'max-len': ['error', { code: 120, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
);
