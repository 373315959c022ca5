<#
.SYNOPSIS
  Deploys the Azure resources of the app (DeployResources/main.bicep) without azd: a thin wrapper over
  `az deployment group create`. Names are made unique from the environment name and the resource group.
.EXAMPLE
  ./DeployResources/deploy-functions-resources.ps1 -ResourceGroup rg-chat -Location westeurope -EnvironmentName prod `
      -PostgresAdminPassword (Read-Host -AsSecureString) -OpenAiKey (Read-Host -AsSecureString)
#>
param(
    [Parameter(Mandatory = $true)][string] $ResourceGroup,
    [Parameter(Mandatory = $true)][string] $Location,
    [Parameter(Mandatory = $true)][string] $EnvironmentName,
    [Parameter(Mandatory = $true)][SecureString] $PostgresAdminPassword,
    [SecureString] $OpenAiKey,
    [string] $ClientIpAddress = '',
    [string] $ResourceToken = ''
)
$ErrorActionPreference = 'Stop'

function ConvertFrom-Secure([SecureString] $value) {
    if (-not $value) { return '' }
    return [Runtime.InteropServices.Marshal]::PtrToStringAuto([Runtime.InteropServices.Marshal]::SecureStringToBSTR($value))
}

az group create --name $ResourceGroup --location $Location --output none

$parameters = @(
    "environmentName=$EnvironmentName",
    "location=$Location",
    "clientIpAddress=$ClientIpAddress"
)
if ($ResourceToken) { $parameters += "resourceToken=$ResourceToken" }

# Secrets go through environment-free inline parameters of this process only, never a file.
$outputs = az deployment group create `
    --resource-group $ResourceGroup `
    --template-file "$PSScriptRoot/main.bicep" `
    --parameters $parameters `
    --parameters postgresAdminPassword=(ConvertFrom-Secure $PostgresAdminPassword) openAiKey=(ConvertFrom-Secure $OpenAiKey) `
    --query properties.outputs --output json | ConvertFrom-Json

Write-Host "Function App: $($outputs.AZURE_FUNCTION_APP_NAME.value)  $($outputs.SERVICE_API_URI.value)"
Write-Host "PostgreSQL:   $($outputs.POSTGRES_HOST.value) / $($outputs.POSTGRES_DATABASE.value)"
Write-Host "App's role:   $($outputs.POSTGRES_APP_ROLE.value)  pool per instance: $($outputs.DB_POOL_SIZE.value) + $($outputs.DB_MAX_OVERFLOW.value)"
Write-Host 'Next: run the migrations, then grant_app_role.py (README, "Migrations"), then publish the code:'
Write-Host "  func azure functionapp publish $($outputs.AZURE_FUNCTION_APP_NAME.value)"
