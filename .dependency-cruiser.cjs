/**
 * The import rules of the project, checked by test/architecture.test.ts (and `npm run depcruise`):
 * no circle; a service never imports another service's source; workspaces reach each other only by
 * package name (@stocks/common, @stocks/db), never by a relative path; the floors point down
 * (common <- 3_db <- services); the estimator's model/ is pure and its wings stay apart.
 */
const SERVICES = '(1_shepherd|2_load_data|4_nn_estimator)';
const WORKSPACES = '(common|3_db|1_shepherd|2_load_data|4_nn_estimator)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: the modules cannot be understood, tested or loaded one without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-service-imports-another-service',
      severity: 'error',
      comment: 'A service never imports another service\'s source; shared code lives once in common or 3_db.',
      from: { path: `^${SERVICES}/src/` },
      to: { path: `^${SERVICES}/`, pathNot: '^$1/' },
    },
    {
      name: 'no-relative-path-into-another-workspace',
      severity: 'error',
      comment: 'Reach another workspace by its package name (@stocks/common, @stocks/db), not by ../../ into its source.',
      from: { path: `^${WORKSPACES}/` },
      to: { path: `^${WORKSPACES}/`, pathNot: '^$1/', dependencyTypes: ['local'] },
    },
    {
      name: 'floors-point-down',
      severity: 'error',
      comment: 'common imports no workspace; 3_db imports only common.',
      from: { path: '^(common|3_db)/src/' },
      to: { path: `^${SERVICES}/` },
    },
    {
      name: 'common-below-db',
      severity: 'error',
      from: { path: '^common/src/' },
      to: { path: '^3_db/' },
    },
    {
      name: 'model-is-pure',
      severity: 'error',
      comment: 'The estimator\'s model/ is pure computation: no Node runtime module, database, HTTP, queue or service wiring.',
      from: { path: '^4_nn_estimator/src/model/' },
      to: {
        pathNot: ['^4_nn_estimator/src/model/', '@tensorflow/', 'node_modules/zod/', '^common/src/'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'model-uses-common-types-only',
      severity: 'error',
      comment: 'model/ may name common\'s types (DailyBar), not load common (its index pulls in fastify and pg).',
      from: { path: '^4_nn_estimator/src/model/' },
      to: { path: '^common/src/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'serving-and-training-apart',
      severity: 'error',
      comment: 'The serving and training wings meet only through the database (and app.ts, which wires both).',
      from: { path: '^4_nn_estimator/src/(serving|training)/' },
      to: { path: '^4_nn_estimator/src/(serving|training)/', pathNot: '^4_nn_estimator/src/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
    preserveSymlinks: false,
  },
};
