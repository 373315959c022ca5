// Key Vault (RBAC) holding the app's secrets; empty secrets are not created. Purge protection: a deleted
// vault (or secret) can be recovered for 7 days and not purged before; a new deployment of the same
// environment within those days must recover it (az keyvault recover) or wait.
param location string
param tags object
param name string
@secure()
param secrets object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: The Function App (Flex Consumption, no virtual network here) resolves its Key Vault references over the public endpoint, and App Service is not a trusted service that a deny-by-default firewall lets through; access is Entra RBAC only (the app's identity: Key Vault Secrets User). A virtual network with a private endpoint is the way to close it.
  // checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109: the app reaches the vault over its public endpoint, authorized by RBAC.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for item in items(secrets): if (!empty(item.value)) {
    // checkov:skip=CKV_AZURE_41: The secrets are other services' keys and proxy credentials with no expiry known here; an expiry date would silently break the app's Key Vault reference when it passes. They are rotated by deploying new values.
    parent: vault
    name: item.key
    properties: {
      value: item.value
      contentType: 'text/plain'
    }
  }
]

output name string = vault.name
