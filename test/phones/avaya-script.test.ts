import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AvayaScriptRun,
  findModel,
  lintAvayaScript,
  parseAvayaScript,
  runAvayaScript,
  type ScriptDialect,
  type ScriptResult,
  scriptVariables,
} from '../../packages/bootwire/src/phones/index.js';

const D4600 = findModel('4610')!.script!.dialect;
const D1600 = findModel('1608')!.script!.dialect;
const D9600 = findModel('9608')!.script!.dialect;

function run(
  text: string,
  dialect: ScriptDialect,
  variables: Record<string, string>,
  files: Record<string, string> = {},
): ScriptResult & { fetched: string[] } {
  const fetched: string[] = [];
  const r = runAvayaScript({ name: 'upgrade.txt', text }, { dialect, variables }, (f) => {
    fetched.push(f);
    return files[f];
  });
  return { ...r, fetched };
}

describe("Avaya upgrade script: the manuals' examples", () => {
  // reference/phones.md, "The Avaya upgrade-script language", "Example shape":
  const EXAMPLE = [
    'IF $MODEL4 SEQ 4610 GOTO 4610',
    'GOTO GETSET',
    '# 4610',
    'SET APPNAME a10d01b2_3.bin',
    '# GETSET',
    'GET 46xxsettings.txt',
  ].join('\n');

  it(
    '"IF $MODEL4 SEQ 4610 GOTO 4610 ... SET APPNAME a10d01b2_3.bin": a 4610 gets the application, ' +
      'then the settings',
    () => {
      const m = findModel('4610')!;
      const r = run(EXAMPLE, D4600, scriptVariables(m, '00:04:0d:aa:bb:01'), {
        '46xxsettings.txt': 'SET SNTPSRVR 10.0.0.1\n',
      });
      expect(r.appName).toBe('a10d01b2_3.bin');
      expect(r.appNameAt).toEqual({ file: 'upgrade.txt', line: 4 });
      expect(r.fetched).toEqual(['46xxsettings.txt']);
      expect(r.values.get('SNTPSRVR')).toBe('10.0.0.1');
      expect(r.settings.map((s) => [s.name, s.file, s.line])).toEqual([
        ['APPNAME', 'upgrade.txt', 4],
        ['SNTPSRVR', '46xxsettings.txt', 1],
      ]);
      expect(r.warnings).toEqual([]);
      expect(r.completed).toBe(true);
    },
  );

  it('the same script on a 4620 skips the 4610 block: no APPNAME, settings still read', () => {
    const r = run(EXAMPLE, D4600, scriptVariables(findModel('4620')!, '00:04:0d:aa:bb:02'), { '46xxsettings.txt': '' });
    expect(r.appName).toBeUndefined();
    expect(r.gets).toEqual([
      { file: '46xxsettings.txt', written: '46xxsettings.txt', from: 'upgrade.txt', line: 6, ok: true },
    ]);
  });

  // 4600 LAN Administrator Guide, "Contents of the Upgrade Script": "The following is a sample upgrade
  // script file: IF $BOOTNAME SEQ 46XXCOMMON.V03 GOTO GETAPP / SET APPNAME REPLBOOT_V3.APP / GOTO END".
  // The excerpt has no # GETAPP or # END label: "If no such statement exists, the rest of the file is ignored".
  const SAMPLE_4600 = 'IF $BOOTNAME SEQ 46XXCOMMON.V03 GOTO GETAPP\nSET APPNAME REPLBOOT_V3.APP\nGOTO END\n';

  it(
    '"IF $BOOTNAME SEQ 46XXCOMMON.V03 GOTO GETAPP": case-insensitive on the 4600; a missing label ' +
      'ignores the rest',
    () => {
      const r = run(SAMPLE_4600, D4600, { BOOTNAME: '46xxcommon.v03' });
      expect(r.appName).toBeUndefined();
      expect(r.warnings).toEqual([
        { file: 'upgrade.txt', line: 1, message: 'label "GETAPP" not found: the rest of upgrade.txt is ignored' },
      ]);
    },
  );

  it('another boot code name falls through to SET APPNAME REPLBOOT_V3.APP, then GOTO END finds no label', () => {
    const r = run(SAMPLE_4600, D4600, { BOOTNAME: 'b10d01b2_2.bin' });
    expect(r.appName).toBe('REPLBOOT_V3.APP');
    expect(r.warnings.map((w) => w.line)).toEqual([3]);
  });

  it(
    'an unknown variable makes the IF line be ignored ("If no such name exists, the entire ' +
      'conditional is ignored")',
    () => {
      const r = run(SAMPLE_4600, D4600, {}); // BOOTNAME unknown to this phone
      expect(r.appName).toBe('REPLBOOT_V3.APP');
      expect(r.warnings[0]).toEqual({
        file: 'upgrade.txt',
        line: 1,
        message: '$BOOTNAME is not a variable this phone can test: line ignored',
      });
    },
  );

  // 9600 SIP / 96x1 manuals: SEQ "exactly matches"; 4600 R2.2 and 1600: "case-insensitive equivalent".
  it('SEQ is exact on the 9600 and case-insensitive on the 4600 and 1600', () => {
    const text = 'IF $MODEL SEQ 9611g GOTO HIT\nGOTO END\n# HIT\nSET HIT 1\n# END\n';
    const vars = { MODEL: '9611G' };
    expect(run(text, D9600, vars).values.get('HIT')).toBeUndefined();
    expect(run(text, D4600, vars).values.get('HIT')).toBe('1');
    expect(run(text, D1600, vars).values.get('HIT')).toBe('1');
  });

  // 96x1 SIP manual: "if it is successfully obtained, it will be interpreted as an additional settings
  // file, and no additional lines will be interpreted in the original file. If the file cannot be
  // obtained, the deskphone will continue to interpret the original file." 1600 manual: "if there is no
  // 46xxsettings.scr file, the telephone looks for a 46xxsettings.txt file."
  const TWO_GETS = 'GET 46xxsettings.scr\nGET 46xxsettings.txt\nSET AFTER 1\n';

  it('96xx/16xx: a failed GET continues the file; a successful GET ends it', () => {
    const none = run(TWO_GETS, D9600, {}, { '46xxsettings.txt': 'SET FROM txt' });
    expect(none.fetched).toEqual(['46xxsettings.scr', '46xxsettings.txt']);
    expect(none.values.get('FROM')).toBe('txt');
    expect(none.values.has('AFTER')).toBe(false);
    const scr = run(TWO_GETS, D1600, {}, { '46xxsettings.scr': 'SET FROM scr', '46xxsettings.txt': 'SET FROM txt' });
    expect(scr.fetched).toEqual(['46xxsettings.scr']);
    expect(scr.values.get('FROM')).toBe('scr');
  });

  // 4600 manual: "If the file cannot be obtained, interpretation of the rest of the current script file
  // is terminated (which is why we indicate the GET should be at the end of the script file)."
  it('4600: a failed GET ends the file; a fetched file is interpreted and the script goes on', () => {
    const failed = run(TWO_GETS, D4600, {}, { '46xxsettings.txt': 'SET FROM txt' });
    expect(failed.fetched).toEqual(['46xxsettings.scr']);
    expect(failed.values.size).toBe(0);
    const ok = run(TWO_GETS, D4600, {}, { '46xxsettings.scr': 'SET FROM scr', '46xxsettings.txt': 'SET FROM txt' });
    expect(ok.fetched).toEqual(['46xxsettings.scr', '46xxsettings.txt']);
    expect([...ok.values]).toEqual([
      ['FROM', 'txt'],
      ['AFTER', '1'],
    ]);
  });

  it('variables are expanded in GET ("GET $MACADDR.cfg"); an unknown one ignores the line', () => {
    const vars = scriptVariables(findModel('9608')!, '00:04:0D:AA:BB:01');
    const r = run('GET $MACADDR.txt\nGET $NOPE.txt\nGET $GROUP-$MODEL4.txt\n', D9600, vars);
    expect(r.fetched).toEqual(['00:04:0d:aa:bb:01.txt', '0-9608.txt']);
    expect(r.gets[0]!.written).toBe('$MACADDR.txt');
    expect(r.warnings).toEqual([
      { file: 'upgrade.txt', line: 2, message: 'GET $NOPE.txt: $NOPE is not a variable of this phone: line ignored' },
    ]);
  });

  it('labels are "#", one space, one word; every other # line is a comment', () => {
    const p = parseAvayaScript('# GOOD\n#BAD\n#  BAD2\n# TWO WORDS\n## COMMENT\n# END \r\n');
    expect(p.lines.map((l) => l.kind)).toEqual(['label', 'comment', 'comment', 'comment', 'comment', 'label']);
    expect([...p.labels.keys()]).toEqual(['GOOD', 'END']);
  });

  it('SET values may be quoted to hold spaces; a SET of a variable changes it for later IFs', () => {
    const r = run('SET MYCERTCN "Avaya phone 1"\nSET GROUP 5\nIF $GROUP SEQ 5 GOTO G5\nSET G5 no\n# G5\n', D9600, {
      GROUP: '0',
    });
    expect(r.values.get('MYCERTCN')).toBe('Avaya phone 1');
    expect(r.values.has('G5')).toBe(false);
  });

  it('lines that are not statements are comments (lower-case keywords too), malformed statements warn', () => {
    const r = run('hello world\nset APPNAME x.bin\nIF $MODEL4 SEQ 9608\nGOTO\nSET APPNAME y.bin\n', D9600, {
      MODEL4: '9608',
    });
    expect(r.appName).toBe('y.bin');
    expect(r.warnings.map((w) => [w.line, w.message])).toEqual([
      [3, 'malformed IF (expected IF $VAR SEQ VALUE GOTO LABEL): read as a comment'],
      [4, 'malformed GOTO (expected GOTO LABEL): read as a comment'],
    ]);
  });

  it('LF, CRLF and lone CR line ends give the same lines', () => {
    const lf = run('SET A 1\nSET B 2\n', D9600, {});
    for (const text of ['SET A 1\r\nSET B 2\r\n', 'SET A 1\rSET B 2\r']) {
      expect(run(text, D9600, {}).settings).toEqual(lf.settings);
    }
  });
});

describe('Avaya upgrade script: the step API', () => {
  it('yields each GET with its origin and resumes with the content or the failure', () => {
    const run = new AvayaScriptRun(
      { name: 'main.txt', text: 'GET a.txt\nSET X 1\n' },
      { dialect: D4600, variables: {} },
    );
    const s1 = run.step();
    expect(s1).toEqual({ type: 'get', file: 'a.txt', from: 'main.txt', line: 1 });
    const s2 = run.step({ ok: true, text: 'SET Y 2\nGET b.txt\n' });
    expect(s2).toEqual({ type: 'get', file: 'b.txt', from: 'a.txt', line: 2 });
    const s3 = run.step({ ok: false, reason: 'timeout' });
    expect(s3.type).toBe('done');
    if (s3.type !== 'done') return;
    expect(s3.result.settings.map((s) => `${s.file}:${s.line} ${s.name}=${s.value}`)).toEqual([
      'a.txt:1 Y=2',
      'main.txt:2 X=1',
    ]);
    expect(s3.result.gets.map((g) => g.ok)).toEqual([true, false]);
    expect(run.step()).toEqual(s3); // finished stays finished
  });

  it('bytes are read as UTF-8 (a settings file fetched as a Buffer)', () => {
    const r = runAvayaScript(
      { name: 'm', text: Buffer.from('SET NAME "Zürich"\n') },
      { dialect: D9600, variables: {} },
      () => undefined,
    );
    expect(r.values.get('NAME')).toBe('Zürich');
  });
});

describe('Avaya upgrade script: hostile input gives warnings, not exceptions', () => {
  it('a GOTO loop stops at the step limit', () => {
    const r = run('# A\nSET X 1\nGOTO A\n', D9600, {});
    expect(r.completed).toBe(false);
    expect(r.steps).toBe(100_000);
    expect(r.warnings.at(-1)!.message).toMatch(/^stopped after 100000 lines/);
  });

  it('a settings file that GETs itself stops at the nesting limit', () => {
    const r = run('GET self.txt\n', D4600, {}, { 'self.txt': 'SET N 1\nGET self.txt\n' });
    expect(r.gets.filter((g) => g.ok)).toHaveLength(8);
    expect(r.gets.at(-1)!.ok).toBe(false);
    expect(r.warnings.some((w) => /more than 8 nested GETs/.test(w.message))).toBe(true);
  });

  it('a huge line is ignored with a warning', () => {
    const r = run(`SET A ${'x'.repeat(100_000)}\nSET B 1\n`, D9600, {});
    expect(r.values.has('A')).toBe(false);
    expect(r.values.get('B')).toBe('1');
    expect(r.warnings[0]).toMatchObject({ line: 1, message: 'line of 100006 characters ignored (over 4096)' });
  });

  it('warnings are capped', () => {
    const r = run('IF $NOPE SEQ 1 GOTO X\n'.repeat(5000), D9600, {});
    expect(r.warnings).toHaveLength(1001);
    expect(r.warnings.at(-1)!.message).toBe('4000 more warnings not shown');
  });

  const statement = fc.oneof(
    fc.constantFrom(
      '# A',
      '# B',
      '# C',
      'GOTO A',
      'GOTO B',
      'GOTO Z',
      'GET s.txt',
      'GET $MACADDR.txt',
      'GET $X.txt',
      '## c',
      '',
    ),
    fc
      .tuple(fc.constantFrom('MODEL4', 'GROUP', 'NOPE'), fc.constantFrom('0', '9608'), fc.constantFrom('A', 'B', 'Z'))
      .map(([v, x, l]) => `IF $${v} SEQ ${x} GOTO ${l}`),
    fc.tuple(fc.constantFrom('APPNAME', 'GROUP', 'X'), fc.string({ maxLength: 8 })).map(([n, v]) => `SET ${n} ${v}`),
    fc.string({ maxLength: 40 }),
  );

  it('random scripts built from statements always terminate within the limits', () => {
    fc.assert(
      fc.property(
        fc.array(statement, { maxLength: 60 }),
        fc.array(statement, { maxLength: 20 }),
        fc.constantFrom(D4600, D1600, D9600),
        (main, settings, dialect) => {
          const r = runAvayaScript(
            { name: 'm', text: main.join('\n') },
            {
              dialect,
              variables: { MODEL4: '9608', GROUP: '0', MACADDR: '00:04:0d:00:00:01' },
              limits: { maxSteps: 5000 },
            },
            (f) => (f === 's.txt' ? settings.join('\r\n') : undefined),
          );
          expect(r.steps).toBeLessThanOrEqual(5000);
          expect(r.gets.length).toBeLessThanOrEqual(5000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('binary garbage and arbitrary text neither throw in the parser, the interpreter nor the linter', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }),
          fc.string({ maxLength: 2000 }),
          fc.string({ unit: 'binary', maxLength: 500 }),
        ),
        (input) => {
          const r = runAvayaScript(
            { name: 'g', text: input },
            { dialect: D9600, variables: { MODEL4: '9608' } },
            () => input,
          );
          expect(r.steps).toBeLessThanOrEqual(100_000);
          expect(Array.isArray(lintAvayaScript('g', input))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Avaya script lint', () => {
  const lint = (text: string) =>
    lintAvayaScript('46xxupgrade.scr', text).map((d) => `${d.line} ${d.severity}: ${d.message}`);

  it('reports a GOTO to a missing label at its line, and a comment that looks like the label', () => {
    expect(lint('IF $MODEL4 SEQ 4610 GOTO APP\nGOTO END\n#APP\nSET APPNAME a.bin\n# END\n')).toEqual([
      '1 error: label "APP" is not defined: the phone ignores the rest of the file when it gets here ' +
        '(line 3 looks like it but is a comment: a label is "#", one space, one word)',
    ]);
  });

  it('reports malformed statements, lower-case keywords, unknown variables, duplicate labels, loops', () => {
    const text = [
      'IF $MODEL4 SEQ 4610 GOTO',
      'set APPNAME a.bin',
      'IF $FOO SEQ 1 GOTO L',
      '# L',
      '# L',
      'SET X 1',
      'GOTO L',
      'SET A b c',
      'GET "unterminated',
    ].join('\n');
    expect(lint(text)).toEqual([
      '1 error: malformed IF: expected IF $VAR SEQ VALUE GOTO LABEL (the phone reads the line as a comment)',
      '2 warning: "set" is not upper case: the phone reads this line as a comment',
      '3 warning: $FOO is not a variable the phones can test: the line is ignored',
      '5 warning: label "L" is also at line 4; GOTO goes to the first',
      '7 error: GOTO L loops forever: nothing between the label and this line can leave the loop',
      '8 warning: text after the value is ignored: "c" (quote values with spaces)',
      '9 error: malformed GET: unterminated double quote (the phone reads the line as a comment)',
    ]);
  });

  it('a backward GOTO after an IF is not a certain loop', () => {
    expect(lint('# L\nIF $GROUP SEQ 1 GOTO OUT\nGOTO L\n# OUT\n')).toEqual([]);
  });

  it('the example scripts of every family lint clean', () => {
    const scripts = [
      'IF $MODEL4 SEQ 4610 GOTO 4610',
      'GOTO GETSET',
      '# 4610',
      'SET APPNAME a10d01b2_3.bin',
      '# GETSET',
      'GET 46xxsettings.txt',
    ];
    expect(lint(scripts.join('\n'))).toEqual([]);
  });

  it('linting a 200,000-line hostile file stays linear', () => {
    const text = `# A\n${'SET X 1\n'.repeat(100_000)}${'GOTO A\n'.repeat(100_000)}`;
    const t = lintAvayaScript('big', text);
    expect(t[0]).toMatchObject({ line: 100_002, severity: 'error' });
    expect(t).toHaveLength(1); // the later GOTOs have a GOTO before them: not certain loops
    const many = lintAvayaScript('big', 'GOTO NOWHERE\n'.repeat(200_000));
    expect(many).toHaveLength(501); // 500 kept + "more not shown"
    expect(many.at(-1)!.message).toBe('199500 more diagnostics not shown');
  });
});
