// GET /metrics: Prometheus text exposition (format 0.0.4), outside /api so a scraper needs no
// credentials — like /healthz, it shows counts and timings, never message content or JIDs.
// Restrict who reaches it at the network (or the reverse proxy) if counts are sensitive.
import type { FastifyPluginAsync } from 'fastify';
import type { MetricsEndpoint } from '../../metrics/registry.ts';

export interface MetricsRoutesOptions {
  readonly endpoint: MetricsEndpoint;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  app.get(
    '/metrics',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description:
          'Connections by transport, stanzas routed by kind, messages archived by verdict, archive batch size, commit time, ' +
          'lag and queue depth, policy scan time, incidents opened and open by severity, HTTP requests, and Node.js process metrics. ' +
          'See docs/api.md (Operations) for every name.',
        produces: ['text/plain'],
        response: { 200: { description: 'Prometheus text format 0.0.4', type: 'string' } },
      },
    },
    async (_request, reply) => {
      const text = await opts.endpoint.render();
      return reply.header('cache-control', 'no-store').type(opts.endpoint.contentType).send(text);
    },
  );
};
