import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';

/** Listen, and on SIGTERM/SIGINT let in-flight requests finish before exiting. */
export async function listen(app: FastifyInstance, port: number, host: string, onClose?: () => Promise<void>): Promise<void> {
  closeWithGrace({ delay: 15_000 }, async ({ err, signal }) => {
    if (err) app.log.error({ err }, 'closing after an uncaught error');
    else app.log.info({ signal }, 'shutting down gracefully');
    await app.close();
    await onClose?.();
  });
  await app.listen({ port, host });
}
