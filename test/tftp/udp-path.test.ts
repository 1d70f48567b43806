/** Which UDP path the TFTP transfers of this run take: the vitest project 'dgram' forces node:dgram. */
import { expect, it } from 'vitest';
import { batchUdpAvailable } from '../../packages/tftp/src/net/batch-udp.js';
import { IN_CI } from '../helpers/peers.js';

it('takes the UDP path the environment asks for', () => {
  if (process.env.BOOTWIRE_UDP === 'dgram') expect(batchUdpAvailable()).toBe(false);
  else if (IN_CI && process.platform === 'linux') expect(batchUdpAvailable()).toBe(true);
});
