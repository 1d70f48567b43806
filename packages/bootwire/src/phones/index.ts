/**
 * The phones bootwire models: their definitions (models.ts), the DHCP-answer-to-file-server plan
 * (file-plan.ts), the file formats they read (Avaya upgrade scripts, 1200 provisioning files,
 * AudioCodes URLs and .cfg, bootwire's image header), the image download rules, and the example root
 * (`bootwire init`) and its linter (`bootwire check`). All pure except writeExampleRoot, checkRoot
 * and fsRootView.
 */
export * from './sources.js';
export * from './models.js';
export * from './file-plan.js';
export * from './avaya-script.js';
export * from './avaya-script-lint.js';
export * from './sip1200-config.js';
export * from './audiocodes-url.js';
export * from './audiocodes-cfg.js';
export * from './image-header.js';
export * from './image-policy.js';
export * from './init-root.js';
export {
  checkRoot,
  checkRootView,
  CHECK_MAC,
  type CheckResult,
  formatDiagnostic,
  fsRootView,
  MAX_TEXT_BYTES,
  type RootView,
} from './check-root.js';
