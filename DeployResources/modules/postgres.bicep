// Azure Database for PostgreSQL Flexible Server 16 with the pgvector extension allow-listed, and the
// app's database. The migrations (`alembic upgrade head`) run `CREATE EXTENSION vector`. Microsoft Entra
// authentication beside the password (the app's identity signs in with a token; the migrations with the
// administrator password), and optionally the built-in PgBouncer on port 6432 (README "Connections").
param location string
param tags object
param name string
param administratorLogin string
@secure()
param administratorLoginPassword string
param skuName string
param skuTier string
param storageSizeGB int
param databaseName string
param clientIpAddress string
@description('Microsoft Entra authentication on (an Entra administrator is added after the Function App exists).')
param activeDirectoryAuth bool
@description('The built-in PgBouncer, with its limits (README "Connections").')
param pgBouncer object = { enabled: false, maxClientConnections: 5000, poolSize: 50 }

var passwordAndEntra = { passwordAuth: 'Enabled', activeDirectoryAuth: 'Enabled', tenantId: tenant().tenantId }
var passwordOnly = { passwordAuth: 'Enabled', activeDirectoryAuth: 'Disabled' }

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorLoginPassword
    authConfig: activeDirectoryAuth ? passwordAndEntra : passwordOnly
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: { mode: 'Disabled' }
    // Public endpoint, closed by the firewall rules below: a Flex Consumption app without a virtual
    // network can only reach the server this way. (checkov has no Bicep check of flexible servers.)
    network: { publicNetworkAccess: 'Enabled' }
  }
}

resource extensions 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'azure.extensions'
  properties: {
    value: 'VECTOR'
    source: 'user-override'
  }
}

// One change of the server at a time (a flexible server refuses concurrent ones): each waits for the last.
resource pgBouncerEnabled 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (pgBouncer.enabled) {
  parent: server
  name: 'pgbouncer.enabled'
  properties: {
    value: 'true'
    source: 'user-override'
  }
  dependsOn: [extensions]
}

resource pgBouncerMaxClients 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (pgBouncer.enabled) {
  parent: server
  name: 'pgbouncer.max_client_conn'
  properties: {
    value: string(pgBouncer.maxClientConnections)
    source: 'user-override'
  }
  dependsOn: [pgBouncerEnabled]
}

resource pgBouncerPoolSize 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (pgBouncer.enabled) {
  parent: server
  name: 'pgbouncer.default_pool_size'
  properties: {
    value: string(pgBouncer.poolSize)
    source: 'user-override'
  }
  dependsOn: [pgBouncerMaxClients]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [extensions, pgBouncerPoolSize]
}

// Flex Consumption apps without a virtual network reach the server as "Azure services".
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [database]
}

resource allowClient 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (!empty(clientIpAddress)) {
  parent: server
  name: 'AllowClientIp'
  properties: {
    startIpAddress: clientIpAddress
    endIpAddress: clientIpAddress
  }
  dependsOn: [allowAzure]
}

output name string = server.name
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
