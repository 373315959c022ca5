// The connection budget (README "Connections"): the pool each instance of the app may hold, so that the
// app at full scale never asks PostgreSQL (or PgBouncer) for more connections than it accepts:
//
//   (2 x maximumInstanceCount + 1) x (DB_POOL_SIZE + DB_MAX_OVERFLOW) <= max_connections - reserved - spare
//
// Flex Consumption's per-function scaling: the maximum instance count applies to each scale group, and
// there are three: the HTTP functions, the queue-triggered ingestion (IngestVideo, up to
// maximumInstanceCount instances as its queue grows), and the timer (one instance); each instance runs
// one Python worker process (FUNCTIONS_WORKER_PROCESS_COUNT is not valid on Flex Consumption) with one
// pool. Always-ready instances of the HTTP group (alwaysReadyHttpInstances) are capped at
// maximumInstanceCount, so they are within its share.
// With PgBouncer, the right side is PgBouncer's max_client_conn, and PgBouncer's own pool must fit the
// server: default_pool_size <= max_connections - reserved - spare.
//
// An instance's share is what the budget allows and at most what it serves at once (its HTTP
// concurrency); the pool takes half of it (rounded up), the overflow the rest. Parameters that break the
// rule fail the deployment with a message that says which. fail() needs a recent Bicep CLI; checkov's
// Bicep parser does not know it, so `make checkov` skips this file (it declares no resource).

param maximumInstanceCount int
param httpPerInstanceConcurrency int
param postgresSkuTier string
param postgresMaxConnections int
param postgresReservedConnections int
param postgresSpareConnections int
param usePgBouncer bool
param pgBouncerMaxClientConnections int
param pgBouncerPoolSize int

var serverBudget = postgresMaxConnections - postgresReservedConnections - postgresSpareConnections
var clientBudget = usePgBouncer ? pgBouncerMaxClientConnections : serverBudget
var clientBudgetName = usePgBouncer
  ? 'pgBouncerMaxClientConnections'
  : 'postgresMaxConnections - postgresReservedConnections - postgresSpareConnections'
var instances = 2 * maximumInstanceCount + 1
var perInstance = min(httpPerInstanceConcurrency, clientBudget / instances)
var poolSize = (perInstance + 1) / 2

var problem = usePgBouncer && postgresSkuTier == 'Burstable'
  ? 'usePgBouncer: the built-in PgBouncer is not available on the Burstable tier (postgresSkuTier).'
  : perInstance < 1
      ? 'Connection budget exceeded: 2 x maximumInstanceCount + 1 = ${instances} instances of at least 1 connection > ${clientBudgetName} = ${clientBudget}. Lower maximumInstanceCount, or use a larger server or PgBouncer (README "Connections").'
      : usePgBouncer && pgBouncerPoolSize > serverBudget
          ? 'pgBouncerPoolSize ${pgBouncerPoolSize} > postgresMaxConnections - postgresReservedConnections - postgresSpareConnections (${serverBudget}).'
          : ''

@description('DB_POOL_SIZE: connections each instance keeps.')
output dbPoolSize int = empty(problem) ? poolSize : fail(problem)

@description('DB_MAX_OVERFLOW: connections each instance may open beyond its pool, closed when returned.')
output dbMaxOverflow int = perInstance - poolSize

@description('Connections of the whole app at full scale, within the budget.')
output connectionsAtFullScale int = instances * perInstance

@description('The port the app connects to: PgBouncer\'s 6432, or PostgreSQL\'s 5432.')
output port int = usePgBouncer ? 6432 : 5432
