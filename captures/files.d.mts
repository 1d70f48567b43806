/** Types of files.mjs: the files the captures in this folder were recorded with. */
export declare const CAPTURE_FILES: Readonly<Record<string, number>>;
export declare function captureFileBytes(name: string, size: number): Buffer;
