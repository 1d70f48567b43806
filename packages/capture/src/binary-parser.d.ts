// binary-parser 2.3 ships types, but its package.json "exports" does not point at them, so NodeNext
// resolution cannot find them for the bare specifier. Re-export them from the file path.
declare module 'binary-parser' {
  export * from 'binary-parser/dist/binary_parser.js';
}
