// Function App on the Flex Consumption plan (Python 3.11, Linux) with a system-assigned identity,
// which reads the storage account (host + deployment package) and the Key Vault secrets.
param location string
param tags object
param planName string
param name string
param storageAccountName string
param deploymentContainerUrl string
param keyVaultName string
@secure()
param appSettings object
param maximumInstanceCount int
param alwaysReadyHttpInstances int
param instanceMemoryMB int
param httpPerInstanceConcurrency int

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// The host's storage through the app's identity, then the app's settings.
var hostSettings = [
  { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
]
var settingList = [for item in items(appSettings): { name: item.key, value: item.value }]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy of a Flex Consumption plan exists only in some regions and fails the deployment elsewhere; this template deploys to any region the plan supports. Turn it on (zoneRedundant) where the region has it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: The app is a public HTTP API and serves the chat page to browsers: public access is its purpose (routes need a function key or a session).
  // checkov:skip=CKV_AZURE_17: Browsers and API clients cannot present client certificates; requests are authorized by function keys and sessions.
  // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP(S) at all, and ftpsState is one of the site properties that must not be set on it (Azure's "Flex Consumption plan deprecations").
  // checkov:skip=CKV_AZURE_212: A serverless plan: instances come with demand (maximumInstanceCount); keeping some always ready would be paid around the clock.
  // checkov:skip=CKV_AZURE_213: App Service health checks do not apply to Flex Consumption; GET /api/health answers for monitoring (database included).
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: concat(hostSettings, settingList)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      // The connection budget of main.bicep assumes these (README "Connections").
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        // The `http` group: every HTTP function (the timer scales on its own).
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    name: guid(storage.id, site.id, role)
    scope: storage
    properties: {
      principalId: site.identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, site.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: site.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

output name string = site.name
output principalId string = site.identity.principalId
output uri string = 'https://${site.properties.defaultHostName}'
