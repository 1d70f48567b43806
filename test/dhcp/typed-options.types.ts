/**
 * Compile-time checks of the typed options, compiled by codec-types.test.ts (and `npm run typecheck`):
 * each line fails to compile when the registry's code-to-type map is wrong. Not run.
 */
import {
  type AvayaList,
  type ClientId,
  decodeDhcp,
  decodeOption,
  encodeOption,
  lookupOption,
  type Option43,
  type OptionCode,
  type OptionInput,
  type OptionName,
  type OptionValue,
  type OptionValues,
} from '../../packages/dhcp/src/codec/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(..._: Equal<A, B> extends true ? [] : [never]): void => undefined;

const r = decodeDhcp(Buffer.alloc(300));
if (r.ok) {
  const o = r.message.options;
  // By code, by name, alias, option-N and digits: the codec's value type.
  same<ReturnType<typeof o.get<242>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<'avaya-242'>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<'avaya-site-specific-242'>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<'option-242'>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<'242'>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<176>>, AvayaList | undefined>();
  same<ReturnType<typeof o.get<43>>, Option43 | undefined>();
  same<ReturnType<typeof o.get<'router'>>, string[] | undefined>();
  same<ReturnType<typeof o.get<'routers'>>, string[] | undefined>();
  same<ReturnType<typeof o.get<51>>, number | undefined>();
  same<ReturnType<typeof o.get<61>>, ClientId | undefined>();
  same<ReturnType<typeof o.get<19>>, boolean | undefined>();
  // A code without an entry is bytes; a key known only at run time is unknown.
  same<ReturnType<typeof o.get<224>>, Buffer | undefined>();
  same<ReturnType<typeof o.get<'option-224'>>, Buffer | undefined>();
  same<ReturnType<typeof o.get<number>>, unknown>();
  same<ReturnType<typeof o.get<string>>, unknown>();

  const list = o.get(242);
  if (list) for (const [name, value] of list.pairs) void (name.toUpperCase() + value.toUpperCase());
  const d = o.decode('avaya-242');
  if (d?.ok) same<typeof d.value, AvayaList>();
  if (d && !d.ok) same<typeof d.value, Buffer>();
}

same<OptionValue<242>, AvayaList>();
same<OptionValues[160], string>();
same<OptionInput<'client-identifier'>, OptionInput<61>>();
same<ReturnType<typeof decodeOption<242>>['value'], AvayaList | Buffer>();
same<Extract<OptionName, 'avaya-242' | 'routers' | 'option-3' | '3'>, 'avaya-242' | 'routers' | 'option-3' | '3'>();
same<Extract<OptionCode, 242 | 224>, 242>();
void lookupOption(242).codec.encode({ pairs: [['MCPORT', '1719']] });

// Builders take what decoders give, and nothing else.
encodeOption(242, { pairs: [['MCPORT', '1719']] });
encodeOption('router', ['10.77.0.1']);
encodeOption(61, { type: 1, data: Buffer.from([0, 4, 13, 1, 2, 3]) });
encodeOption(224, Buffer.from([1]));
// @ts-expect-error a string is not an AvayaList
encodeOption(242, 'MCPORT=1719');
// @ts-expect-error option 3 is a list
encodeOption('router', '10.77.0.1');
// @ts-expect-error option 51 is a number
encodeOption(51, '3600');
// @ts-expect-error option 12 is text, not bytes
encodeOption('host-name', Buffer.from('x'));
// @ts-expect-error the MAC is derived when decoded, not built from
encodeOption(61, { type: 1, data: Buffer.from([1]), mac: '00:04:0d:01:02:03' });
