// The Function App's storage: host state, the Flex Consumption deployment package and the queue of the
// ingestion (IngestVideo; the host creates its poison queue). Shared keys are disabled: the app reaches
// it with its managed identity (AzureWebJobsStorage__accountName, Storage Queue Data Contributor).
param location string
param tags object
param name string
@description('The queue of the ingestion (INGEST_QUEUE_NAME).')
param ingestQueueName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Without a virtual network, the Flex Consumption host reaches its storage (AzureWebJobsStorage, the deployment container) over the public endpoint, which a deny-by-default rule would cut; shared keys are off, every access is the app's identity through RBAC, and no blob is public.
  // checkov:skip=CKV_AZURE_33: Storage Analytics (classic) logging of the queue service is not configured: the queue holds job ids only (no personal data), its traffic is the Functions host's and the app's own, which Application Insights records; classic logging is being retired for diagnostic settings.
  // checkov:skip=CKV_AZURE_206: Locally redundant on purpose: the account holds nothing that cannot be rebuilt (the deployment package, uploaded again by every deployment; the host's leases and timer state). The data lives in PostgreSQL.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'deploymentpackage'
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource ingestQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: ingestQueueName
}

output name string = storage.name
output ingestQueueName string = ingestQueue.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
