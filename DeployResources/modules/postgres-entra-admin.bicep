// The Function App's system-assigned identity as a Microsoft Entra administrator of the PostgreSQL server
// (as Azure-Samples/rag-postgres-openai-python makes its app's identity one): Azure creates the
// PostgreSQL role, named after the app, and the app signs in as it with a token of its identity
// (PG_ENTRA_AUTH). It is added once the server has all its other settings: a flexible server takes one
// change at a time. An administrator is a member of azure_pg_admin (CREATEROLE, CREATEDB), more than the
// app needs; it is the only way to create the role from the template, without an Entra administrator
// running pgaadauth_create_principal by hand. The tables stay the migrations' (the password
// administrator's), which grant the role their use (DeployResources/hooks/grant_app_role.py).
param serverName string
param principalId string
param principalName string

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: serverName
}

resource administrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: principalId
  properties: {
    principalType: 'ServicePrincipal'
    principalName: principalName
    tenantId: tenant().tenantId
  }
}

output roleName string = administrator.properties.principalName
