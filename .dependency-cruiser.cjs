/**
 * The layering rule (hexagonal): domain -> ports only; ports -> domain; adapters -> ports, domain;
 * app -> anything. The domain never sees Node APIs, adapters, the app or inversify.
 * Each message names the fix.
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain may import only src/domain and src/ports. Move I/O behind a port in src/ports and implement it in src/adapters.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: ['^src/domain/', '^src/ports/'] },
    },
    {
      name: 'domain-no-node-builtins',
      comment: 'src/domain must not use node:* modules (time, randomness, digests and I/O come through ports).',
      severity: 'error',
      from: { path: '^src/(domain|ports)/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'ports-are-interfaces',
      comment: 'src/ports may import only src/ports and src/domain types.',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { pathNot: ['^src/domain/', '^src/ports/'] },
    },
    {
      name: 'adapters-not-app',
      comment: 'src/adapters must not import src/app (the composition root depends on adapters, not the reverse).',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'di-only-in-app',
      comment: 'Only src/app (the composition root) may use inversify; domain classes take plain constructor arguments.',
      severity: 'error',
      from: { pathNot: '^src/app/' },
      to: { path: 'node_modules/(inversify|reflect-metadata)/' },
    },
    {
      name: 'no-circular',
      comment: 'Circular imports hide layering mistakes; split the module.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '^src/adapters/grpc/gen/' },
  },
};
