/** A `bootwire.json` that cannot be used: one line that names the field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
