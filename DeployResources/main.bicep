// Chat with YouTube videos: a production deployment on Azure.
// Function App (Flex Consumption, Python 3.11, Linux) + storage + Application Insights / Log Analytics
// + Azure Database for PostgreSQL Flexible Server (pgvector allow-listed; the app signs in with its
// managed identity) + Key Vault for the secrets.
// Use with `azd up` (azure.yaml at the repository root) or `DeployResources/deploy-functions-resources.ps1`.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(40)
@description('Name of the environment (e.g. dev, prod): part of every resource name.')
param environmentName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('A suffix making the globally unique names unique.')
param resourceToken string = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))

// --- database ---------------------------------------------------------------------------------
@description('PostgreSQL administrator login.')
param postgresAdminLogin string = 'chatadmin'

@secure()
@minLength(12)
@description('PostgreSQL administrator password (from the environment, never from a parameters file).')
param postgresAdminPassword string

@description('PostgreSQL compute size.')
param postgresSkuName string = 'Standard_B1ms'

@allowed(['Burstable', 'GeneralPurpose', 'MemoryOptimized'])
param postgresSkuTier string = 'Burstable'

@description('Storage of the PostgreSQL server, in GB.')
param postgresStorageSizeGB int = 32

@description('Name of the application database.')
param databaseName string = 'chat'

@description('Public IP allowed to reach PostgreSQL besides Azure services (e.g. to run migrations); empty for none.')
param clientIpAddress string = ''

@description('The app signs in to PostgreSQL as its managed identity (a Microsoft Entra token, PG_ENTRA_AUTH) instead of with the administrator password, which then serves the migrations only.')
param usePasswordlessPostgres bool = true

// --- scale and database connections (README "Connections") -------------------------------------
@description('Most on-demand instances of each Flex Consumption scale group (the HTTP functions, and the ingestion queue function; the timer has its own): 1 to 1000.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 4

@description('Instances of the HTTP functions kept running (Flex Consumption "always ready", billed while idle; within maximumInstanceCount): 1 spares the first visitor a cold start (README "Cold start").')
@minValue(0)
@maxValue(1000)
param alwaysReadyHttpInstances int = 0

@description('Memory of each instance, MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('HTTP requests one instance serves at once (set explicitly: the platform default depends on the memory and the language).')
@minValue(1)
@maxValue(200)
param httpPerInstanceConcurrency int = 16

@description('max_connections of the PostgreSQL server: 50 on Standard_B1ms, 429 on B2s, 859 on B2ms and D2ds_v5, 1718 on D4ds_v5 (README "Connections").')
@minValue(25)
@maxValue(5000)
param postgresMaxConnections int = 50

@description('Connections the server keeps for Azure (reserved_connections + superuser_reserved_connections): 15.')
@minValue(0)
@maxValue(100)
param postgresReservedConnections int = 15

@description('Connections kept free for the migrations and an operator.')
@minValue(0)
@maxValue(1000)
param postgresSpareConnections int = 5

@description('Azure\'s built-in PgBouncer (port 6432, transaction pooling; not on the Burstable tier). The app then connects to it (PG_PGBOUNCER).')
param usePgBouncer bool = false

@description('Client connections PgBouncer accepts (pgbouncer.max_client_conn).')
@minValue(1)
@maxValue(50000)
param pgBouncerMaxClientConnections int = 5000

@description('Server connections PgBouncer opens for the app\'s database and user (pgbouncer.default_pool_size).')
@minValue(1)
@maxValue(5000)
param pgBouncerPoolSize int = 20

// --- secrets the app may use (empty: not configured) -------------------------------------------
@secure()
param openAiKey string = ''
@secure()
param embeddingKey string = ''
@secure()
param chatKey string = ''
@secure()
param azureOpenAiApiKey string = ''
@secure()
param youtubeProxyHttpUrl string = ''
@secure()
param youtubeProxyHttpsUrl string = ''
@secure()
param webshareProxyPassword string = ''

// --- app settings (README lists them all) ------------------------------------------------------
param openAiBaseUrl string = ''
@allowed(['', 'auto', 'openai', 'azure', 'none'])
param embeddingProvider string = 'auto'
param embeddingBaseUrl string = ''
@allowed(['', 'auto', 'openai', 'azure', 'none'])
param chatProvider string = 'auto'
param chatBaseUrl string = ''
param openAiEmbeddingModel string = 'text-embedding-3-small'
param openAiChatModel string = 'gpt-4o-mini'
param embeddingDimensions int = 1536
param azureOpenAiEndpoint string = ''
param azureOpenAiApiVersion string = '2024-10-21'
param azureOpenAiEmbeddingDeployment string = ''
param azureOpenAiChatDeployment string = ''
param webshareProxyUsername string = ''
param transcriptLanguages string = 'en'
param sessionExpireMinutes int = 15
param sessionSlidingExpiration bool = true
param sessionCleanupSchedule string = '0 0 0 * * *'
param sessionCleanupRunOnStartup bool = false
@allowed(['ANONYMOUS', 'FUNCTION', 'ADMIN'])
param httpAuthLevel string = 'FUNCTION'
param maxUrlsPerRequest int = 10
param maxVideosPerSession int = 20
param maxTranscriptSeconds int = 14400
@description('Seconds POST /api/videos waits for its videos before answering 202 with the pending ones (Azure answers an HTTP request within 230 s at most).')
@minValue(0)
@maxValue(200)
param ingestWaitSeconds int = 15
@description('The storage queue of the ingestion (created in the app\'s storage account).')
param ingestQueueName string = 'video-ingest'
@description('X-Forwarded-For entries appended by trusted proxies: 1 for the Azure front end alone, 2 behind Front Door.')
param trustedProxyCount int = 1
@description('Spending limits of the whole app (0: unlimited): embedding tokens and chat model calls per UTC day.')
param embeddingTokensPerDay int = 20000000
param chatCallsPerDay int = 5000

var tags = { 'azd-env-name': environmentName }
var names = {
  logAnalytics: 'log-${environmentName}-${resourceToken}'
  appInsights: 'appi-${environmentName}-${resourceToken}'
  storage: take('st${toLower(replace(replace(environmentName, '-', ''), '_', ''))}${resourceToken}', 24)
  keyVault: take('kv${toLower(replace(replace(environmentName, '-', ''), '_', ''))}${resourceToken}', 24)
  postgres: 'psql-${environmentName}-${resourceToken}'
  plan: 'plan-${environmentName}-${resourceToken}'
  functionApp: 'func-${environmentName}-${resourceToken}'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    tags: tags
    name: names.storage
    ingestQueueName: ingestQueueName
  }
}

// DB_POOL_SIZE and DB_MAX_OVERFLOW within the connection budget, or a failed deployment that says why.
module connections 'modules/connections.bicep' = {
  name: 'connections'
  params: {
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    postgresSkuTier: postgresSkuTier
    postgresMaxConnections: postgresMaxConnections
    postgresReservedConnections: postgresReservedConnections
    postgresSpareConnections: postgresSpareConnections
    usePgBouncer: usePgBouncer
    pgBouncerMaxClientConnections: pgBouncerMaxClientConnections
    pgBouncerPoolSize: pgBouncerPoolSize
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    tags: tags
    name: names.postgres
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    databaseName: databaseName
    clientIpAddress: clientIpAddress
    activeDirectoryAuth: usePasswordlessPostgres
    pgBouncer: {
      enabled: connections.outputs.port == 6432 // after the budget check
      maxClientConnections: pgBouncerMaxClientConnections
      poolSize: pgBouncerPoolSize
    }
  }
}

// Passwordless: the user is the app's Entra role (named after the app, postgres-entra-admin.bicep) and
// the password a token the app gets for its identity; nothing secret, so no Key Vault secret.
var pgAddress = '${postgres.outputs.fullyQualifiedDomainName}:${connections.outputs.port}/${databaseName}?sslmode=require'
var pgPasswordlessConnectionString = 'postgresql://${uriComponent(names.functionApp)}@${pgAddress}'
var pgPasswordConnectionString = 'postgresql://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${pgAddress}'

// Secrets live in Key Vault; the app settings only reference them (`@Microsoft.KeyVault(...)`).
var secretValues = {
  'pg-connection-string': usePasswordlessPostgres ? '' : pgPasswordConnectionString
  'openai-key': openAiKey
  'embedding-key': embeddingKey
  'chat-key': chatKey
  'azure-openai-api-key': azureOpenAiApiKey
  'youtube-proxy-http-url': youtubeProxyHttpUrl
  'youtube-proxy-https-url': youtubeProxyHttpsUrl
  'webshare-proxy-password': webshareProxyPassword
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: names.keyVault
    secrets: secretValues
  }
}

// A secret's app setting: a reference to it in Key Vault, or empty when it is not set.
var vaultRef = '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName='

// Every setting the app reads (services/common/settings.py); a test checks that none is missing.
var appSettings = {
  PG_CONNECTION_STRING: usePasswordlessPostgres ? pgPasswordlessConnectionString : '${vaultRef}pg-connection-string)'
  PG_ENTRA_AUTH: string(usePasswordlessPostgres)
  PG_PGBOUNCER: string(usePgBouncer)
  PG_EMBEDDED_DATA_DIR: '.data/pgdata'
  DB_CONNECT_TIMEOUT_SECONDS: '5'
  DB_POOL_SIZE: string(connections.outputs.dbPoolSize)
  DB_MAX_OVERFLOW: string(connections.outputs.dbMaxOverflow)
  SESSION_EXPIRE_MINUTES: string(sessionExpireMinutes)
  SESSION_SLIDING_EXPIRATION: string(sessionSlidingExpiration)
  SESSION_CLEANUP_SCHEDULE: sessionCleanupSchedule
  SESSION_CLEANUP_RUN_ON_STARTUP: string(sessionCleanupRunOnStartup)
  SESSION_CLEANUP_BATCH_SIZE: '1000'
  HTTP_AUTH_LEVEL: httpAuthLevel
  MAX_REQUEST_BODY_BYTES: '1000000'
  TRANSCRIPT_LANGUAGES: transcriptLanguages
  YOUTUBE_PROXY_HTTP_URL: empty(youtubeProxyHttpUrl) ? '' : '${vaultRef}youtube-proxy-http-url)'
  YOUTUBE_PROXY_HTTPS_URL: empty(youtubeProxyHttpsUrl) ? '' : '${vaultRef}youtube-proxy-https-url)'
  WEBSHARE_PROXY_USERNAME: webshareProxyUsername
  WEBSHARE_PROXY_PASSWORD: empty(webshareProxyPassword) ? '' : '${vaultRef}webshare-proxy-password)'
  YOUTUBE_TIMEOUT_SECONDS: '20'
  MAX_URLS_PER_REQUEST: string(maxUrlsPerRequest)
  MAX_VIDEOS_PER_SESSION: string(maxVideosPerSession)
  MAX_TRANSCRIPT_SECONDS: string(maxTranscriptSeconds)
  MAX_CHUNKS_PER_VIDEO: '3000'
  INGEST_CONCURRENCY: '20'
  INGEST_WAIT_SECONDS: string(ingestWaitSeconds)
  INGEST_QUEUE_NAME: storage.outputs.ingestQueueName
  INGEST_TIMEOUT_MINUTES: '30'
  CHUNK_TARGET_SECONDS: '10'
  CHUNK_TARGET_CHARS: '300'
  CHUNK_OVERLAP_SECONDS: '0'
  CHUNK_EMBED_FOLLOWING: '2'
  OPENAI_KEY: empty(openAiKey) ? '' : '${vaultRef}openai-key)'
  OPENAI_BASE_URL: openAiBaseUrl
  EMBEDDING_PROVIDER: embeddingProvider
  EMBEDDING_BASE_URL: embeddingBaseUrl
  EMBEDDING_KEY: empty(embeddingKey) ? '' : '${vaultRef}embedding-key)'
  OPENAI_EMBEDDING_MODEL: openAiEmbeddingModel
  CHAT_PROVIDER: chatProvider
  CHAT_BASE_URL: chatBaseUrl
  CHAT_KEY: empty(chatKey) ? '' : '${vaultRef}chat-key)'
  OPENAI_CHAT_MODEL: openAiChatModel
  EMBEDDING_DIMENSIONS: string(embeddingDimensions)
  EMBEDDING_BATCH_SIZE: '1024'
  OPENAI_MAX_RETRIES: '3'
  OPENAI_TIMEOUT_SECONDS: '60'
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  AZURE_OPENAI_API_KEY: empty(azureOpenAiApiKey) ? '' : '${vaultRef}azure-openai-api-key)'
  AZURE_OPENAI_API_VERSION: azureOpenAiApiVersion
  AZURE_OPENAI_EMBEDDING_DEPLOYMENT: azureOpenAiEmbeddingDeployment
  AZURE_OPENAI_CHAT_DEPLOYMENT: azureOpenAiChatDeployment
  RETRIEVAL_TOP_K: '6'
  RETRIEVAL_FETCH_K: '20'
  RETRIEVAL_VECTOR_WEIGHT: '0.7'
  RETRIEVAL_CONTEXT_SECONDS: '60'
  CHAT_HISTORY_TURNS: '6'
  CHAT_HISTORY_MAX_TURNS: '100'
  CHAT_TEMPERATURE: '0'
  CHAT_MAX_TOKENS: '800'
  CHAT_PROMPT_MAX_TOKENS: '4000'
  TRUSTED_PROXY_COUNT: string(trustedProxyCount)
  RATE_LIMIT_SESSIONS_PER_HOUR: '60'
  RATE_LIMIT_VIDEOS_PER_HOUR: '100'
  RATE_LIMIT_QUESTIONS_PER_MINUTE: '30'
  RATE_LIMIT_QUESTIONS_PER_HOUR: '300'
  EMBEDDING_TOKENS_PER_HOUR: '2000000'
  EMBEDDING_TOKENS_PER_DAY: string(embeddingTokensPerDay)
  CHAT_CALLS_PER_HOUR: '500'
  CHAT_CALLS_PER_DAY: string(chatCallsPerDay)
  LANGCHAIN_CHAT_MESSAGE_TABLE_NAME: 'langchain_chat_message'
}

// Read by the Functions host and its Python worker, not by the app (README "Observability"): with
// host.json's "telemetryMode": "OpenTelemetry", the worker configures the Azure Monitor distro (package
// azure-monitor-opentelemetry, in requirements.txt) before it imports the app, then exports our spans
// and the records of the `services` loggers, under the host's trace of each request.
//
// PYTHON_ENABLE_INIT_INDEXING: HTTP streams (README "Streaming"). With it, the worker indexes the app
// when it starts and, since the app imports the package azurefunctions-extensions-http-fastapi
// (requirements.txt), serves every HTTP function through FastAPI's Request and Response on a local
// HTTP server of its own: POST /api/chat can stream its answer. Needs Functions host 4.34.1 or later
// (Flex Consumption runs a current 4.x host), Python 3.8 or later and the v2 programming model.
var platformSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: 'services'
  PYTHON_ENABLE_INIT_INDEXING: '1'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    planName: names.plan
    name: names.functionApp
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    keyVaultName: keyVault.outputs.name
    appSettings: union(appSettings, platformSettings)
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: min(alwaysReadyHttpInstances, maximumInstanceCount)
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
  }
}

module postgresEntraAdmin 'modules/postgres-entra-admin.bicep' = if (usePasswordlessPostgres) {
  name: 'postgres-entra-admin'
  params: {
    serverName: postgres.outputs.name
    principalId: functionApp.outputs.principalId
    principalName: names.functionApp
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output POSTGRES_HOST string = postgres.outputs.fullyQualifiedDomainName
output POSTGRES_SERVER_NAME string = names.postgres
output POSTGRES_DATABASE string = databaseName
output POSTGRES_ADMIN_LOGIN string = postgresAdminLogin
@description('The app\'s PostgreSQL role (its identity), which the migrations\' tables are granted to; empty with a password.')
output POSTGRES_APP_ROLE string = usePasswordlessPostgres ? names.functionApp : ''
output DB_POOL_SIZE int = connections.outputs.dbPoolSize
output DB_MAX_OVERFLOW int = connections.outputs.dbMaxOverflow
output DB_CONNECTIONS_AT_FULL_SCALE int = connections.outputs.connectionsAtFullScale
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
