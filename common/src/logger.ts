import type { LoggerOptions } from 'pino';

/** pino options shared by every service: JSON lines, service name, secrets redacted. */
export function loggerOptions(service: string, level = 'info'): LoggerOptions {
  return {
    level,
    base: { service },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.password',
        '*.DATABASE_URL',
        'databaseUrl',
      ],
      censor: '[redacted]',
    },
  };
}

/** Strip the password from a connection string before logging it. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}
