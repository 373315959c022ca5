// Chat with YouTube videos: a production deployment on Azure.
// Function App (Flex Consumption, Python 3.11, Linux) + storage + Application Insights / Log Analytics
// + Azure Database for PostgreSQL Flexible Server (pgvector allow-listed) + Key Vault for the secrets.
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

@description('Maximum number of instances of the Flex Consumption plan.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

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
  }
}

// Secrets live in Key Vault; the app settings only reference them (`@Microsoft.KeyVault(...)`).
var secretValues = {
  'pg-connection-string': 'postgresql://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${postgres.outputs.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
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

func secretRef(vaultName string, secretName string, value string) string =>
  empty(value) ? '' : '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${secretName})'

// Every setting the app reads (services/common/settings.py); a test checks that none is missing.
var appSettings = {
  PG_CONNECTION_STRING: secretRef(names.keyVault, 'pg-connection-string', secretValues['pg-connection-string'])
  PG_EMBEDDED_DATA_DIR: '.data/pgdata'
  DB_CONNECT_TIMEOUT_SECONDS: '5'
  DB_POOL_SIZE: '5'
  SESSION_EXPIRE_MINUTES: string(sessionExpireMinutes)
  SESSION_SLIDING_EXPIRATION: string(sessionSlidingExpiration)
  SESSION_CLEANUP_SCHEDULE: sessionCleanupSchedule
  SESSION_CLEANUP_RUN_ON_STARTUP: string(sessionCleanupRunOnStartup)
  SESSION_CLEANUP_BATCH_SIZE: '1000'
  HTTP_AUTH_LEVEL: httpAuthLevel
  MAX_REQUEST_BODY_BYTES: '1000000'
  TRANSCRIPT_LANGUAGES: transcriptLanguages
  YOUTUBE_PROXY_HTTP_URL: secretRef(names.keyVault, 'youtube-proxy-http-url', youtubeProxyHttpUrl)
  YOUTUBE_PROXY_HTTPS_URL: secretRef(names.keyVault, 'youtube-proxy-https-url', youtubeProxyHttpsUrl)
  WEBSHARE_PROXY_USERNAME: webshareProxyUsername
  WEBSHARE_PROXY_PASSWORD: secretRef(names.keyVault, 'webshare-proxy-password', webshareProxyPassword)
  YOUTUBE_TIMEOUT_SECONDS: '20'
  MAX_URLS_PER_REQUEST: string(maxUrlsPerRequest)
  MAX_VIDEOS_PER_SESSION: string(maxVideosPerSession)
  MAX_TRANSCRIPT_SECONDS: string(maxTranscriptSeconds)
  MAX_CHUNKS_PER_VIDEO: '3000'
  INGEST_CONCURRENCY: '20'
  CHUNK_TARGET_SECONDS: '20'
  CHUNK_TARGET_CHARS: '500'
  CHUNK_OVERLAP_SECONDS: '0'
  OPENAI_KEY: secretRef(names.keyVault, 'openai-key', openAiKey)
  OPENAI_BASE_URL: openAiBaseUrl
  EMBEDDING_PROVIDER: embeddingProvider
  EMBEDDING_BASE_URL: embeddingBaseUrl
  EMBEDDING_KEY: secretRef(names.keyVault, 'embedding-key', embeddingKey)
  OPENAI_EMBEDDING_MODEL: openAiEmbeddingModel
  CHAT_PROVIDER: chatProvider
  CHAT_BASE_URL: chatBaseUrl
  CHAT_KEY: secretRef(names.keyVault, 'chat-key', chatKey)
  OPENAI_CHAT_MODEL: openAiChatModel
  EMBEDDING_DIMENSIONS: string(embeddingDimensions)
  EMBEDDING_BATCH_SIZE: '256'
  OPENAI_MAX_RETRIES: '3'
  OPENAI_TIMEOUT_SECONDS: '60'
  AZURE_OPENAI_ENDPOINT: azureOpenAiEndpoint
  AZURE_OPENAI_API_KEY: secretRef(names.keyVault, 'azure-openai-api-key', azureOpenAiApiKey)
  AZURE_OPENAI_API_VERSION: azureOpenAiApiVersion
  AZURE_OPENAI_EMBEDDING_DEPLOYMENT: azureOpenAiEmbeddingDeployment
  AZURE_OPENAI_CHAT_DEPLOYMENT: azureOpenAiChatDeployment
  RETRIEVAL_TOP_K: '6'
  RETRIEVAL_FETCH_K: '20'
  RETRIEVAL_RRF_K: '60'
  RETRIEVAL_CONTEXT_SECONDS: '60'
  CHAT_HISTORY_TURNS: '6'
  CHAT_HISTORY_MAX_TURNS: '100'
  CHAT_TEMPERATURE: '0'
  CHAT_MAX_TOKENS: '800'
  CHAT_PROMPT_MAX_TOKENS: '4000'
  LANGCHAIN_CHAT_MESSAGE_TABLE_NAME: 'langchain_chat_message'
}

// Read by the Functions host and its Python worker, not by the app (README "Observability"): with
// host.json's "telemetryMode": "OpenTelemetry", the worker configures the Azure Monitor distro (package
// azure-monitor-opentelemetry, in requirements.txt) before it imports the app, then exports our spans
// and the records of the `services` loggers, under the host's trace of each request.
var platformSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME: 'services'
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
    instanceMemoryMB: instanceMemoryMB
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output POSTGRES_HOST string = postgres.outputs.fullyQualifiedDomainName
output POSTGRES_SERVER_NAME string = names.postgres
output POSTGRES_DATABASE string = databaseName
output POSTGRES_ADMIN_LOGIN string = postgresAdminLogin
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
