/**
 * bootwire's application API, for what the command line does: the phone models and their boot flows
 * (`bootPhone`), the boot-storm benchmark (`runStorm`), capture replay (`replayCapture`) and the
 * configuration file. The protocols are packages of their own: @bootwire/tftp, @bootwire/dhcp,
 * @bootwire/capture, @bootwire/http, @bootwire/core.
 */
export * as phones from './phones/index.js';
export {
  bootPhone,
  planFromUrl,
  type BootOptions,
  type BootReport,
  type Phase,
  type PhaseRecord,
} from './boot/boot-phone.js';
export { MemoryStateStore, DirStateStore, type PhoneState, type PhoneStateStore } from './boot/state.js';
export { runStorm, type StormOptions } from './storm/run.js';
export { type StormRun, toJson as stormRunJson } from './storm/result.js';
export { Site, type SiteOptions, type UplinkShape } from './storm/site.js';
export { replayCapture, type ReplayOptions } from './replay/index.js';
export {
  formatReport,
  summarize as summarizeReplay,
  type Outcome,
  type ReplayReport,
  type Verdict,
} from './replay/report.js';
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export type { BootwireConfig } from './config/schema.js';
// Types the options and results above refer to.
export type { FetchContext } from './boot/fetch.js';
export type { HostPort } from '@bootwire/core';
export type { MixEntry } from './storm/fleet.js';
export type { PeerName } from './storm/servers.js';
export type { SiteStormOptions } from './storm/site-storm.js';
export type { Percentiles } from './storm/stats.js';
export type { FaultTotals } from './storm/result.js';
export type { Namespace, UplinkCounters, VoiceSubnet } from './storm/site.js';
export type { DhcpReplayOptions } from './replay/dhcp-replay.js';
export type { TftpReplayOptions } from './replay/tftp-replay.js';
export type { Summary as ReplaySummary } from './replay/report.js';
